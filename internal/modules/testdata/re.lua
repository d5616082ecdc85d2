-- re: Go's regexp syntax through match, find, gmatch, find_all, gsub and split.

-- match: captures, or the whole match; nil if none
check(re.match("hello world", "w\\w+"), "world", "whole match")
check({ re.match("key=value", "(\\w+)=(\\w+)") }, { "key", "value" }, "captures")
check(re.match("abc", "x"), nil, "no match")
check({ re.match("b", "(a)|(b)") }, { false, "b" }, "a group that did not take part is false")
check(re.match("2026-05-01", "^(?P<y>\\d{4})-(?P<m>\\d\\d)"), "2026", "named groups are positional")
check(re.match("aXbX", "X", 3), "X", "init")
check(re.match("abc", "^b", 2), "b", "^ anchors at init, as in string.match")
check(re.match("abc", "c", -1), "c", "negative init")
check(re.match("abc", "x", 10), nil, "init past the end")
check(re.match("", "^$"), "", "empty subject")
check(re.match("ÉCOLE école", "(?i)école"), "ÉCOLE", "UTF-8 and flags")

-- find: 1-based inclusive positions, then captures
check({ re.find("hello world", "o w") }, { 5, 7 }, "find")
check({ re.find("key=value", "(\\w+)=(\\w+)") }, { 1, 9, "key", "value" }, "find with captures")
check({ re.find("abc", "x*") }, { 1, 0 }, "empty match at the start")
check({ re.find("abcabc", "b", 3) }, { 5, 5 }, "find from init")
check(re.find("abc", "d"), nil, "find nothing")
check({ re.find("héllo", "l+") }, { 4, 5 }, "byte positions")

-- gmatch
local words = {}
for w in re.gmatch("one two  three", "\\w+") do words[#words + 1] = w end
check(words, { "one", "two", "three" }, "gmatch")
local pairs_ = {}
for k, v in re.gmatch("a=1, b=2", "(\\w)=(\\d)") do pairs_[#pairs_ + 1] = k .. v end
check(pairs_, { "a1", "b2" }, "gmatch captures")
local empties = 0
for _ in re.gmatch("abc", "x*") do empties = empties + 1 end
check(empties, 4, "gmatch empty matches")

-- find_all
check(re.find_all("a1b22c333", "\\d+"), { "1", "22", "333" }, "find_all strings")
check(re.find_all("a=1&b=2", "(?P<k>\\w)=(?P<v>\\d)"), { { "a", "1", k = "a", v = "1" }, { "b", "2", k = "b", v = "2" } }, "find_all tables")
check(re.find_all("a1b2c3", "\\d", 2), { "1", "2" }, "find_all n")
check(re.find_all("a1b2c3", "\\d", 0), {}, "find_all n = 0")
check(re.find_all("abc", "x"), {}, "find_all none")
check(re.find_all("aaa", "^a"), { "a" }, "^ matches once in the iteration")
check(re.find_all("a\na\na", "(?m)^a"), { "a", "a", "a" }, "(?m)^ after each line break")
check(re.find_all("foo foofoo foo", "\\bfoo\\b"), { "foo", "foo" }, "\\b sees the text before")
check(re.find_all("abc", ""), { "", "", "", "" }, "empty pattern")
check(re.find_all("baaac", "a*"), { "", "aaa", "" }, "Go's rule for empty matches after a match")

-- gsub: a template (Go's Expand syntax), a table, a function
check({ re.gsub("hello world", "o", "0") }, { "hell0 w0rld", 2 }, "gsub")
check({ re.gsub("John Smith", "(\\w+) (\\w+)", "$2, $1") }, { "Smith, John", 1 }, "$n")
check({ re.gsub("John Smith", "(?P<first>\\w+) (?P<last>\\w+)", "${last} ${first}") }, { "Smith John", 1 }, "${name}")
check({ re.gsub("a1", "(\\w)(\\d)", "${1}x$2") }, { "ax1", 1 }, "${1}x")
check({ re.gsub("a1", "(\\w)(\\d)", "$1x") }, { "", 1 }, "$1x is the group named 1x")
check({ re.gsub("cost", "cost", "$$5") }, { "$5", 1 }, "$$")
check({ re.gsub("a", "a", "$") }, { "$", 1 }, "a lone $")
check({ re.gsub("a b c", " ", "-", 1) }, { "a-b c", 1 }, "gsub n")
check({ re.gsub("abc", "x", "y") }, { "abc", 0 }, "no match")
check({ re.gsub("hello world", "\\w+", { hello = "HI" }) }, { "HI world", 2 }, "table")
check({ re.gsub("$x and $y", "\\$(\\w+)", { x = "1", y = 2 }) }, { "1 and 2", 2 }, "table keyed by the first capture")
check({ re.gsub("abc", "\\w", function(c) return c:upper() .. "." end) }, { "A.B.C.", 3 }, "function")
check({ re.gsub("a=1,b=2", "(\\w)=(\\d)", function(k, v) return v .. "=" .. k end) }, { "1=a,2=b", 2 }, "function with captures")
check({ re.gsub("keep", "\\w+", function() return nil end) }, { "keep", 1 }, "nil keeps the match")
check({ re.gsub("keep", "\\w+", function() return false end) }, { "keep", 1 }, "false keeps the match")
check({ re.gsub("n", "n", function() return 42 end) }, { "42", 1 }, "a number")
check({ re.gsub("abc", "", "-") }, { "-a-b-c-", 4 }, "empty matches")
check({ re.gsub("aaa", "^a", "b") }, { "baa", 1 }, "^ once")
check({ re.gsub("x", "x", 7) }, { "7", 1 }, "a number as the template")

-- split: Go's Regexp.Split
check(re.split("a,b,,c", ","), { "a", "b", "", "c" }, "split")
check(re.split("a, b ,c", "\\s*,\\s*"), { "a", "b", "c" }, "split on a pattern")
check(re.split("a,b,c", ",", 2), { "a", "b,c" }, "split n")
check(re.split("a,b,c", ",", 0), {}, "split n = 0")
check(re.split("abc", ""), { "a", "b", "c" }, "split on empty")
check(re.split("", ","), { "" }, "split empty")
check(re.split("a,", ","), { "a", "" }, "trailing separator")
check(re.split("x", "x"), { "", "" }, "only a separator")
