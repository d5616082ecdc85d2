-- time: the fixed clock of the tests is 2026-05-01T12:34:56.789012Z.

local t = time.now()
check(t, 1777638896.789012, "now, to the microsecond")
check(time.format(t, "rfc3339"), "2026-05-01T12:34:56Z", "rfc3339")
check(time.format(t, "RFC3339"), "2026-05-01T12:34:56Z", "the name in any case")
check(time.format(t, "rfc3339nano"), "2026-05-01T12:34:56.789012Z", "rfc3339nano")
check(time.format(t, "rfc3339", "+02:00"), "2026-05-01T14:34:56+02:00", "offset +02:00")
check(time.format(t, "rfc3339", "-0530"), "2026-05-01T07:04:56-05:30", "offset -0530")
check(time.format(t, "rfc3339", "+02"), "2026-05-01T14:34:56+02:00", "offset +02")
check(time.format(t, "rfc3339", "+00:00"), "2026-05-01T12:34:56Z", "offset zero is UTC")
check(time.format(t, "%Y-%m-%dT%H:%M:%S%z"), "2026-05-01T12:34:56+0000", "strftime")
check(time.format(t, "%a %A %b %B %j %p %I %y %s %f %% %Z"), "Fri Friday May May 121 PM 12 26 1777638896 789012 % UTC", "every directive")
check(time.format(t, "%F %T"), "2026-05-01 12:34:56", "%F %T")
check(time.format(t, "%H:%M %Z %z", "-0530"), "07:04 -0530 -0530", "%Z of an offset")
check(time.format(0, "%Y-%m-%d %H:%M:%S %a"), "1970-01-01 00:00:00 Thu", "the epoch")
check(time.format(-1, "rfc3339"), "1969-12-31T23:59:59Z", "before the epoch")
check(time.format(0.5, "%S.%f"), "00.500000", "a fraction")
check(time.format(0.9999999, "%S.%f"), "01.000000", "rounded to the microsecond")
check(time.format(946684799, "%a %j %I%p"), "Fri 365 11PM", "1999-12-31")
check(time.format(1777593600, "%I %p"), "12 AM", "midnight is 12 AM")
check(time.format(-62135596800, "rfc3339"), "0001-01-01T00:00:00Z", "the year 1")
check(time.format(253402300799, "rfc3339"), "9999-12-31T23:59:59Z", "the year 9999")
check(time.format(t, "rfc3339", "Europe/Paris"), "2026-05-01T14:34:56+02:00", "a zone by name (summer)")
check(time.format(1767225600, "%H:%M %Z", "Europe/Paris"), "01:00 CET", "a zone by name (winter)")
check(time.format(t, "rfc3339", "America/New_York"), "2026-05-01T08:34:56-04:00", "New York")

-- parse
local whole = 1777638896
check(time.parse("2026-05-01T12:34:56Z", "rfc3339"), whole, "rfc3339")
check(time.parse("2026-05-01T14:34:56+02:00", "rfc3339"), whole, "rfc3339 with an offset")
check(time.parse("2026-05-01T12:34:56.789012Z", "rfc3339"), t, "rfc3339 with a fraction")
check(time.parse("2026-05-01T12:34:56.789012Z", "rfc3339nano"), t, "rfc3339nano")
check(time.parse("2026-05-01 14:34:56", "%Y-%m-%d %H:%M:%S", "+02:00"), whole, "the zone of text without one")
check(time.parse("2026-05-01 12:34:56", "%F %T"), whole, "UTC by default")
check(time.parse("01/May/2026:14:34:56 +0200", "%d/%b/%Y:%H:%M:%S %z"), whole, "an access log's time")
check(time.parse("Fri, 01 May 2026 12:34:56 GMT", "%a, %d %b %Y %H:%M:%S %Z"), whole, "an HTTP date")
check(time.parse("friday 01 MAY 26 12:34:56.789012 Z", "%A %d %B %y %H:%M:%S.%f %z"), t, "names in any case, %y, %f")
check(time.parse("2026-121 12:34:56", "%Y-%j %T"), whole, "%j")
check(time.parse("12:34:56 AM", "%I:%M:%S %p"), 2096, "%I %p (12 AM)")
check(time.parse("01:00:00 PM", "%I:%M:%S %p"), 13 * 3600, "%I %p (1 PM)")
check(time.parse("1777638896", "%s"), whole, "%s")
check(time.parse("100%", "%S0%%"), 10, "%%")
check(time.parse("2024-02-29", "%Y-%m-%d"), 1709164800, "a leap day")
check(time.parse("2026-05-01 14:34:56", "%F %T", "Europe/Paris"), whole, "parse in a zone by name")
check(time.parse("99", "%y"), time.parse("1999", "%Y"), "%y 99")
check(time.parse("68", "%y"), time.parse("2068", "%Y"), "%y 68")

-- round trips, with offsets
for _, tz in ipairs({ "UTC", "+05:45", "-11:00", "+14:00", "Asia/Kolkata" }) do
  for _, layout in ipairs({ "rfc3339nano", "%Y-%m-%dT%H:%M:%S.%f%z", "%d %B %Y %I:%M:%S.%f %p" }) do
    for _, v in ipairs({ t, 0, 951782400.25, -86400.5, 4102444799.999999 }) do
      check(time.parse(time.format(v, layout, tz), layout, tz), v, "round trip of " .. v .. " with " .. layout .. " in " .. tz)
    end
  end
end
