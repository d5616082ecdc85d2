-- expect: non-table object(nil) with key 'getregistry'
-- The debug library reaches every upvalue and the registry.
debug.getregistry()
