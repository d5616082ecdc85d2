-- expect: larger than 1 MiB
-- A table whose JSON passes the store's bound on one value.
local part = ("v"):rep(600000)
platform.store.set("big", { part, part })
