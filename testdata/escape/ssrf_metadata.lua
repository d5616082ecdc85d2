-- expect: is not an allowed host
-- The cloud metadata service, through platform.api.
platform.api.get("http://169.254.169.254/latest/meta-data/")
