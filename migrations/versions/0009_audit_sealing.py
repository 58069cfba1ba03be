"""audit chain sealed outside the requests: seal_seq, unsealed rows

Revision ID: 0009_audit_sealing
Revises: 0008_first_connection
Create Date: 2026-12-01 17:40:00.000000

Requests now only insert audit rows; a sealer chains them afterwards in the
order of a new column, ``seal_seq`` (idp/audit.py). Expand style: the new
column and the hashes of a row not sealed yet are nullable. The rows already
there were chained at insert time in id order: they are sealed as they are,
``seal_seq`` numbered 1, 2, 3... in id order, so that their hashes still verify
and the sealer goes on from the last one. The numbering runs in batches, each
statement short enough for the commands' statement timeout.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_audit_sealing'
down_revision = '0008_first_connection'
branch_labels = None
depends_on = None

BATCH = 50_000


def upgrade():
    with op.batch_alter_table('audit_events') as batch:
        batch.add_column(sa.Column('seal_seq', sa.BigInteger(), nullable=True))
        batch.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
        batch.alter_column('hash', existing_type=sa.String(length=64), nullable=True)
    _number_the_chained_rows(op.get_bind())
    op.create_index('ix_audit_seal_seq', 'audit_events', ['seal_seq'], unique=True)
    op.create_index('ix_audit_unsealed', 'audit_events', ['id'],
                    postgresql_where=sa.text('seal_seq IS NULL'),
                    sqlite_where=sa.text('seal_seq IS NULL'))


def _number_the_chained_rows(connection):
    last_id, seq = 0, 0
    while True:
        upper, count = connection.execute(sa.text(
            "SELECT max(id), count(*) FROM (SELECT id FROM audit_events WHERE id > :last "
            "ORDER BY id LIMIT :batch) AS part"), {"last": last_id, "batch": BATCH}).one()
        if not count:
            return
        connection.execute(sa.text(
            "UPDATE audit_events SET seal_seq = numbered.seq FROM ("
            "SELECT id, :seq + row_number() OVER (ORDER BY id) AS seq FROM audit_events "
            "WHERE id > :last AND id <= :upper) AS numbered "
            "WHERE audit_events.id = numbered.id"),
            {"seq": seq, "last": last_id, "upper": upper})
        last_id, seq = upper, seq + count


def downgrade():
    # The rows written since were chained by the sealer in seal_seq order; a row not
    # sealed yet has no hash, which the previous release cannot hold: refuse.
    unsealed = op.get_bind().execute(
        sa.text("SELECT count(*) FROM audit_events WHERE seal_seq IS NULL")).scalar_one()
    if unsealed:
        raise RuntimeError(f"{unsealed} audit rows are not sealed yet: run `idp audit seal` "
                           "(with the web processes stopped) before downgrading")
    op.drop_index('ix_audit_unsealed', table_name='audit_events')
    op.drop_index('ix_audit_seal_seq', table_name='audit_events')
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_column('seal_seq')
        batch.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
