"""run kinds (main, supplementary); cleared holds and the supplementary run that paid them

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.add_column('runs', sa.Column('kind', sa.String(length=16), server_default='main', nullable=False))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a foreign key only inline with the column; batch mode would copy and drop `runs`,
        # which fails on a populated database (other tables reference it and foreign keys are on)
        op.execute('ALTER TABLE runs ADD COLUMN parent_run_id INTEGER REFERENCES runs (id)')
    else:
        op.add_column('runs', sa.Column('parent_run_id', ID, nullable=True))
        op.create_foreign_key('fk_runs_parent_run_id_runs', 'runs', 'runs', ['parent_run_id'], ['id'])

    op.create_table('hold_clearances',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('run_id', ID, nullable=False),
    sa.Column('end_to_end_id', sa.String(length=35), nullable=False),
    sa.Column('pension_id', sa.String(length=64), nullable=False),
    sa.Column('national_id', sa.String(length=64), nullable=False),
    sa.Column('branch_code', sa.String(length=16), nullable=False),
    sa.Column('net_amount', sa.BigInteger(), nullable=False),
    sa.Column('codes', sa.Text(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('cleared_by', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('cleared_at', sa.String(length=40), nullable=False),
    sa.Column('paid_in_run_id', ID, nullable=True),
    sa.Column('closed_in_run_id', ID, nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name='fk_hold_clearances_run_id_runs'),
    sa.ForeignKeyConstraint(['cleared_by'], ['users.user_id'], name='fk_hold_clearances_cleared_by_users'),
    sa.ForeignKeyConstraint(['paid_in_run_id'], ['runs.id'], name='fk_hold_clearances_paid_in_run_id_runs'),
    sa.ForeignKeyConstraint(['closed_in_run_id'], ['runs.id'], name='fk_hold_clearances_closed_in_run_id_runs'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'end_to_end_id', name='uq_hold_clearance')
    )
    with op.batch_alter_table('hold_clearances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hold_clearances_end_to_end_id'), ['end_to_end_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('hold_clearances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hold_clearances_end_to_end_id'))
    op.drop_table('hold_clearances')
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('runs', schema=None, recreate='always') as batch_op:
            batch_op.drop_column('parent_run_id')
            batch_op.drop_column('kind')
    else:
        op.drop_constraint('fk_runs_parent_run_id_runs', 'runs', type_='foreignkey')
        op.drop_column('runs', 'parent_run_id')
        op.drop_column('runs', 'kind')
