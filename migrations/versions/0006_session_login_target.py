"""session login target: the request a fresh login was made for

Revision ID: 0006_session_login_target
Revises: 0005_captcha_media
Create Date: 2026-12-01 04:20:00.000000

prompt=login and max_age (OIDC Core 3.1.2.1) are met by a login made for the
very authorization request, once: the session remembers the SHA-256 of that
request instead of a marker in the URL, which the user agent could forge.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_session_login_target'
down_revision = '0005_captcha_media'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_target_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_column('login_target_hash')
