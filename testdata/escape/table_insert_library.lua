-- expect: table.insert: the math library is read-only
-- Write into a library table through table.insert.
table.insert(math, "pwned")
