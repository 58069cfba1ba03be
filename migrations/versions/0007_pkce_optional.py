"""pkce_optional on clients: PKCE required unless a legacy module is registered so

Revision ID: 0007_pkce_optional
Revises: 0006_session_login_target
Create Date: 2026-12-01 04:20:00.000000

Existing clients get false: PKCE becomes required for them too (RFC 9700
2.1.1). A legacy module that cannot send it is set back by hand:
UPDATE clients SET pkce_optional = true WHERE client_id = '...';
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_pkce_optional'
down_revision = '0006_session_login_target'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pkce_optional', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('pkce_optional')
