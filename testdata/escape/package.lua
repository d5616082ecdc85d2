-- expect: non-table object(nil) with key 'loadlib'
-- package.loadlib loads C code.
package.loadlib("/lib/libc.so.6", "system")
