"""assistance: search keys of the accounts (the console's prefix search)

Revision ID: 0003_assistance
Revises: 0002_oidc
Create Date: 2026-11-28 10:00:00.000000

Written by hand, for the console's prefix search. The keys are lower-case,
accent-free copies of the name and the email, computed in Python
(``idp.models.user.search_key``, copied below) so that SQLite and PostgreSQL
compare exactly the same text; existing rows are filled before the columns
become NOT NULL.
"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_assistance'
down_revision = '0002_oidc'
branch_labels = None
depends_on = None


def search_key(*parts):
    """A frozen copy of ``idp.models.user.search_key`` as of this revision."""
    text = unicodedata.normalize("NFKD", " ".join(part for part in parts if part))
    bare = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=201), nullable=True))
        batch_op.add_column(sa.Column('email_key', sa.String(length=254), nullable=True))

    users = sa.table('users', sa.column('id', sa.Integer), sa.column('email', sa.String),
                     sa.column('given_name', sa.String), sa.column('family_name', sa.String),
                     sa.column('name_key', sa.String), sa.column('email_key', sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.email, users.c.given_name,
                                  users.c.family_name)).all()
    for row in rows:
        bind.execute(users.update().where(users.c.id == row.id).values(
            name_key=search_key(row.family_name, row.given_name)[:201],
            email_key=search_key(row.email)[:254],
        ))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=201), nullable=False)
        batch_op.alter_column('email_key', existing_type=sa.String(length=254), nullable=False)
        batch_op.create_index(batch_op.f('ix_users_name_key'), ['name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_email_key'), ['email_key'], unique=False)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email_key'))
        batch_op.drop_index(batch_op.f('ix_users_name_key'))
        batch_op.drop_column('email_key')
        batch_op.drop_column('name_key')
