"""approval chain levels with N distinct signers and an item-total threshold; one approval per slot

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('approval_levels', sa.Column('required', sa.Integer(), server_default='1', nullable=False))
    op.add_column('approval_levels', sa.Column('min_total', sa.BigInteger(), nullable=True))
    # approvals is referenced by no other table: SQLite's batch copy of it is safe on a populated database
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slot', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint('uq_approval_level', type_='unique')
        batch_op.create_unique_constraint('uq_approval_slot', ['item_type', 'item_id', 'content_sha256', 'level',
                                                               'slot'])


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_constraint('uq_approval_slot', type_='unique')
        batch_op.create_unique_constraint('uq_approval_level', ['item_type', 'item_id', 'content_sha256', 'level'])
        batch_op.drop_column('slot')
    with op.batch_alter_table('approval_levels', schema=None) as batch_op:
        batch_op.drop_column('min_total')
        batch_op.drop_column('required')
