-- fastlua: is_active = maybe
return 1
