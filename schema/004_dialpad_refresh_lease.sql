-- Token refresh across nodes: the node about to refresh a connection's
-- tokens takes a short lease in the row first (owner and end), so exactly
-- one node refreshes for one expiry, and a node that dies mid-refresh only
-- delays the next attempt until the lease ends. The lease is taken in one
-- UPDATE (row lock), so no database connection is held while Dialpad is
-- being called.
ALTER TABLE dialpad_connections
    ADD COLUMN refresh_lease_owner text,
    ADD COLUMN refresh_lease_until timestamptz;

COMMENT ON COLUMN dialpad_connections.refresh_lease_owner IS
    'NODE_NAME of the node refreshing the tokens right now (NULL: none).';
COMMENT ON COLUMN dialpad_connections.refresh_lease_until IS
    'When that node''s claim lapses if it never reports back.';
