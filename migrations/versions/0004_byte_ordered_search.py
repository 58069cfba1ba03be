"""byte-ordered search columns on PostgreSQL (the console's prefix search)

Revision ID: 0004_byte_ordered_search
Revises: 0003_assistance
Create Date: 2026-11-26 03:40:00.000000

PostgreSQL orders text by the database locale (even C.UTF-8), which its
planner does not use for prefix ranges: with the "C" collation the indexes on
these columns serve « begins with » searches (1,000,000 accounts).
SQLite already compares bytes: nothing to do there.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_byte_ordered_search'
down_revision = '0003_assistance'
branch_labels = None
depends_on = None

COLUMNS = (('login', 64), ('siret', 14), ('name_key', 201), ('email_key', 254))


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, length in COLUMNS:
        op.alter_column('users', name, type_=sa.String(length, collation='C'),
                        existing_type=sa.String(length))


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name, length in COLUMNS:
        op.alter_column('users', name, type_=sa.String(length),
                        existing_type=sa.String(length, collation='C'))
