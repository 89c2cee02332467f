"""reference extracts as Parquet: reference_loads names the extract's Parquet object; the registry,
deaths and accounts tables go

The national extracts (millions of rows) are data-plane objects now: each load is normalized once and
stored as a Parquet object named by its SHA-256 under PENSION_HOME/objects/reference; the newest
reference_loads row of a kind that names an object is the extract in force. The migration runs without
PENSION_HOME, so a table that holds rows is renamed legacy_<table>; the engine turns it into a Parquet
object and a reference_loads row (loaded_by "migration-0008") the first time the extract is used, then
drops it (payroll.services.reference.adopt_legacy_extracts). Empty tables are dropped here.

Downgrade recreates the three tables (a legacy table not yet adopted is renamed back); extracts loaded
as Parquet since the upgrade are not copied back into them.

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLES = ('registry', 'deaths', 'accounts')


def upgrade() -> None:
    with op.batch_alter_table('reference_loads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_key', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('object_sha256', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    for table in TABLES:
        if table == 'accounts':
            op.drop_index('ix_accounts_holder_national_id', table_name='accounts')
        if bind.execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() is not None:
            op.rename_table(table, f'legacy_{table}')
        else:
            op.drop_table(table)


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for table in TABLES:
        if f'legacy_{table}' in existing:
            op.rename_table(f'legacy_{table}', table)
        elif table == 'registry':
            op.create_table('registry',
                            sa.Column('national_id', sa.String(length=20), nullable=False),
                            sa.Column('full_name', sa.String(length=300), nullable=False),
                            sa.Column('birth_date', sa.String(length=10), nullable=False),
                            sa.PrimaryKeyConstraint('national_id'))
        elif table == 'deaths':
            op.create_table('deaths',
                            sa.Column('national_id', sa.String(length=20), nullable=False),
                            sa.Column('date_of_death', sa.String(length=10), nullable=False),
                            sa.PrimaryKeyConstraint('national_id'))
        else:
            op.create_table('accounts',
                            sa.Column('account_code', sa.String(length=40), nullable=False),
                            sa.Column('bank_code', sa.String(length=8), nullable=False),
                            sa.Column('holder_national_id', sa.String(length=20), nullable=False),
                            sa.Column('dedicated', sa.Boolean(), nullable=False),
                            sa.Column('status', sa.String(length=16), nullable=False),
                            sa.PrimaryKeyConstraint('account_code'))
    op.create_index('ix_accounts_holder_national_id', 'accounts', ['holder_national_id'], unique=False)
    with op.batch_alter_table('reference_loads', schema=None) as batch_op:
        batch_op.drop_column('object_sha256')
        batch_op.drop_column('object_key')
