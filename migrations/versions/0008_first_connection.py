"""first connection completion date on accounts

Revision ID: 0008_first_connection
Revises: 0007_pkce_optional
Create Date: 2026-12-01 04:20:00.000000

The first connection is complete only once its four steps (provisional password
used, password changed, secret question set, captcha) have been done; the
account records when. Accounts already in use (a personal password chosen at
some point and their secrets set) are marked complete at their last login, else
at their last password change, else at their creation: they are not asked the
captcha again.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_first_connection'
down_revision = '0007_pkce_optional'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('first_connection_completed_at', sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE users SET first_connection_completed_at = "
        "COALESCE(last_login_at, password_changed_at, created_at) "
        "WHERE (password_hash IS NOT NULL OR password_changed_at IS NOT NULL) "
        "AND secret_answer_hash IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('first_connection_completed_at')
