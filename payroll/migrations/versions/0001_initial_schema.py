"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 17:56:34.547736
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('account_code', sa.String(length=40), nullable=False),
    sa.Column('bank_code', sa.String(length=8), nullable=False),
    sa.Column('holder_national_id', sa.String(length=20), nullable=False),
    sa.Column('dedicated', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('account_code')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_holder_national_id'), ['holder_national_id'], unique=False)

    op.create_table('approval_levels',
    sa.Column('item_type', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('roles', sa.String(length=100), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('item_type', 'level')
    )
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('item_type', sa.String(length=24), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('before_sha256', sa.String(length=64), nullable=True),
    sa.Column('after_sha256', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('entry_hash')
    )
    op.create_table('banks',
    sa.Column('bank_code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('bic', sa.String(length=11), nullable=True),
    sa.Column('file_format', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('bank_code')
    )
    op.create_table('branches',
    sa.Column('branch_code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('province_code', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('branch_code')
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branches_province_code'), ['province_code'], unique=False)

    op.create_table('deaths',
    sa.Column('national_id', sa.String(length=20), nullable=False),
    sa.Column('date_of_death', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('national_id')
    )
    op.create_table('reference_loads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('loaded_by', sa.String(length=64), nullable=False),
    sa.Column('loaded_at', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('registry',
    sa.Column('national_id', sa.String(length=20), nullable=False),
    sa.Column('full_name', sa.String(length=300), nullable=False),
    sa.Column('birth_date', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('national_id')
    )
    op.create_table('users',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('branch_code', sa.String(length=16), nullable=True),
    sa.Column('province_code', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('approvals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('item_type', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.user_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_type', 'item_id', 'content_sha256', 'level', name='uq_approval_level'),
    sa.UniqueConstraint('item_type', 'item_id', 'content_sha256', 'user_id', name='uq_approval_user')
    )
    op.create_table('runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.String(length=40), nullable=False),
    sa.Column('payments_path', sa.String(length=1000), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('payable_count', sa.Integer(), nullable=False),
    sa.Column('payable_total', sa.BigInteger(), nullable=False),
    sa.Column('held_count', sa.Integer(), nullable=False),
    sa.Column('blocked_count', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('levels_approved', sa.Integer(), nullable=False),
    sa.Column('approved_at', sa.String(length=40), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.Column('released_at', sa.String(length=40), nullable=True),
    sa.Column('release_dir', sa.String(length=1000), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.user_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_period'), ['period'], unique=False)

    op.create_table('submissions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('branch_code', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.String(length=40), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('raw_path', sa.String(length=1000), nullable=False),
    sa.Column('rows_path', sa.String(length=1000), nullable=True),
    sa.Column('rows_sha256', sa.String(length=64), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('accepted_rows', sa.Integer(), nullable=False),
    sa.Column('accepted_total', sa.BigInteger(), nullable=False),
    sa.Column('counted_total', sa.BigInteger(), nullable=True),
    sa.Column('declared_count', sa.BigInteger(), nullable=True),
    sa.Column('declared_total', sa.BigInteger(), nullable=True),
    sa.Column('file_errors', sa.Text(), nullable=False),
    sa.Column('levels_approved', sa.Integer(), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['branch_code'], ['branches.branch_code'], ),
    sa.ForeignKeyConstraint(['submitted_by'], ['users.user_id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('branch_code', 'period', 'version', name='uq_submission_version')
    )
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index('ix_submissions_branch_period', ['branch_code', 'period'], unique=False)

    op.create_table('intake_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('submission_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('column_name', sa.String(length=64), nullable=True),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('pension_id', sa.String(length=64), nullable=True),
    sa.Column('national_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('intake_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_errors_submission_id'), ['submission_id'], unique=False)

    op.create_table('period_releases',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('period'),
    sa.UniqueConstraint('run_id')
    )
    op.create_table('released_files',
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('bank_code', sa.String(length=8), nullable=False),
    sa.Column('file_format', sa.String(length=32), nullable=False),
    sa.Column('transactions', sa.Integer(), nullable=False),
    sa.Column('control_sum', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'file_name')
    )
    op.create_table('run_exceptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('stage', sa.String(length=8), nullable=False),
    sa.Column('branch_code', sa.String(length=16), nullable=False),
    sa.Column('submission_id', sa.BigInteger(), nullable=False),
    sa.Column('source_sha256', sa.String(length=64), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('pension_id', sa.String(length=64), nullable=True),
    sa.Column('national_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('run_exceptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_exceptions_run_id'), ['run_id'], unique=False)

    op.create_table('run_submissions',
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('submission_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rows_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ),
    sa.PrimaryKeyConstraint('run_id', 'submission_id')
    )


def downgrade() -> None:
    op.drop_table('run_submissions')
    with op.batch_alter_table('run_exceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_exceptions_run_id'))

    op.drop_table('run_exceptions')
    op.drop_table('released_files')
    op.drop_table('period_releases')
    with op.batch_alter_table('intake_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_errors_submission_id'))

    op.drop_table('intake_errors')
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_branch_period')

    op.drop_table('submissions')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_period'))

    op.drop_table('runs')
    op.drop_table('approvals')
    op.drop_table('users')
    op.drop_table('registry')
    op.drop_table('reference_loads')
    op.drop_table('deaths')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branches_province_code'))

    op.drop_table('branches')
    op.drop_table('banks')
    op.drop_table('audit_log')
    op.drop_table('audit_head')
    op.drop_table('approval_levels')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_holder_national_id'))

    op.drop_table('accounts')
