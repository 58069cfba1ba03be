"""captcha image and audio kept with their challenge

Revision ID: 0005_captcha_media
Revises: 0004_byte_ordered_search
Create Date: 2026-12-01 04:20:00.000000

A challenge's image and audio are drawn once and served as the same bytes at
every fetch: redrawing the noise at each fetch let a robot average it away.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_captcha_media'
down_revision = '0004_byte_ordered_search'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('challenges') as batch:
        batch.add_column(sa.Column('image', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('audio', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('challenges') as batch:
        batch.drop_column('audio')
        batch.drop_column('image')
