-- line 1

error("boom")
