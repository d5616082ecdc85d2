-- A straight-line script (no loop, no function: it runs without the VM's per-instruction time
-- check) whose one re.gsub makes 4 Mi matches: the modules' step hook stops it at the time limit.
return { content = { n = select(2, re.gsub(string.rep("a", 4194304), "a", {})) } }
