"""per-bank file limits, naming and layout parameters; bank status reports and transfer statuses

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('banks', sa.Column('max_transactions', sa.Integer(), nullable=True))
    op.add_column('banks', sa.Column('max_file_bytes', sa.BigInteger(), nullable=True))
    op.add_column('banks', sa.Column('file_name', sa.String(length=200), nullable=True))
    op.add_column('banks', sa.Column('params', sa.Text(), nullable=True))
    op.add_column('runs', sa.Column('reconciliation', sa.String(length=16), nullable=True))
    op.add_column('released_files', sa.Column('msg_id', sa.String(length=35), nullable=True))

    op.create_table('bank_reports',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('run_id', ID, nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('message', sa.String(length=32), nullable=False),
    sa.Column('msg_id', sa.String(length=35), nullable=False),
    sa.Column('stored_path', sa.String(length=1000), nullable=False),
    sa.Column('read_by', sa.String(length=64), nullable=False),
    sa.Column('read_at', sa.String(length=40), nullable=False),
    sa.Column('outcomes', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name='fk_bank_reports_run_id_runs'),
    sa.ForeignKeyConstraint(['read_by'], ['users.user_id'], name='fk_bank_reports_read_by_users'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'sha256', name='uq_bank_report')
    )
    with op.batch_alter_table('bank_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_reports_run_id'), ['run_id'], unique=False)

    op.create_table('payment_statuses',
    sa.Column('run_id', ID, nullable=False),
    sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('iso_status', sa.String(length=8), nullable=False),
    sa.Column('reason_code', sa.String(length=8), nullable=True),
    sa.Column('reason_text', sa.Text(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('report_id', ID, nullable=False),
    sa.Column('updated_at', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name='fk_payment_statuses_run_id_runs'),
    sa.ForeignKeyConstraint(['report_id'], ['bank_reports.id'], name='fk_payment_statuses_report_id_bank_reports'),
    sa.PrimaryKeyConstraint('run_id', 'end_to_end_id')
    )


def downgrade() -> None:
    op.drop_table('payment_statuses')
    with op.batch_alter_table('bank_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_reports_run_id'))
    op.drop_table('bank_reports')
    with op.batch_alter_table('released_files', schema=None) as batch_op:
        batch_op.drop_column('msg_id')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('reconciliation')
    with op.batch_alter_table('banks', schema=None) as batch_op:
        for c in ('params', 'file_name', 'max_file_bytes', 'max_transactions'):
            batch_op.drop_column(c)
