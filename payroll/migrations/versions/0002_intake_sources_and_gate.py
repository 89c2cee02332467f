"""branch systems; how each submission was read and what the quality gate said

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('system', sa.String(length=32), nullable=True))
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('validation_summary', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('validation_path', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('data_docs_path', sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_column('data_docs_path')
        batch_op.drop_column('validation_path')
        batch_op.drop_column('validation_summary')
        batch_op.drop_column('source')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_column('system')
