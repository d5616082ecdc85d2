-- Known vectors: RFC 1321 (md5), FIPS 180-2 / RFC 6234 (sha1, sha256, sha512), RFC 2202 (HMAC-MD5,
-- HMAC-SHA1) and RFC 4231 (HMAC-SHA256, HMAC-SHA512).

local function unhex(h) return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end)) end
local function bytes(first, last)
  local t = {}
  for i = first, last do t[#t + 1] = string.char(i) end
  return table.concat(t)
end
local million_a = string.rep("a", 1000000)

-- RFC 1321, appendix A.5
for _, v in ipairs({
  { "", "d41d8cd98f00b204e9800998ecf8427e" },
  { "a", "0cc175b9c0f1b6a831c399e269772661" },
  { "abc", "900150983cd24fb0d6963f7d28e17f72" },
  { "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
  { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
  { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f" },
  { "12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a" },
}) do
  check(crypto.md5(v[1]), v[2], "md5(" .. v[1] .. ")")
  check(crypto.md5(v[1], true), unhex(v[2]), "md5 raw")
  check(crypto.md5(v[1], "raw"), unhex(v[2]), "md5 \"raw\"")
  check(crypto.md5(v[1], "hex"), v[2], "md5 \"hex\"")
end

-- FIPS 180-2 appendices A, B, C (the one-block, two-block and million-a messages), and ""
local abc2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
local abc2_512 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
for _, v in ipairs({
  { "sha1", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
  { "sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
  { "sha1", abc2, "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
  { "sha1", million_a, "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
  { "sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
  { "sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
  { "sha256", abc2, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
  { "sha256", million_a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
  { "sha512", "", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" },
  { "sha512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
  { "sha512", abc2_512, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909" },
  { "sha512", million_a, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b" },
}) do
  check(crypto[v[1]](v[2]), v[3], v[1] .. " of " .. #v[2] .. " bytes")
  check(crypto[v[1]](v[2], true), unhex(v[3]), v[1] .. " raw")
end

-- RFC 2202 (test cases 1-7 for HMAC-MD5 and HMAC-SHA1) and RFC 4231 (cases 1-4, 6, 7; case 5
-- checks a truncated output, compared here on its first 16 bytes).
local big_key_block = "Test Using Larger Than Block-Size Key - Hash Key First"
local big_key_data = "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"
local rfc4231_data7 = "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
for _, v in ipairs({
  { "md5", string.rep("\11", 16), "Hi There", "9294727a3638bb1c13f48ef8158bfc9d" },
  { "md5", "Jefe", "what do ya want for nothing?", "750c783e6ab0b503eaa86e310a5db738" },
  { "md5", string.rep("\170", 16), string.rep("\221", 50), "56be34521d144c88dbb8c733f0e8b3f6" },
  { "md5", bytes(1, 25), string.rep("\205", 50), "697eaf0aca3a3aea3a75164746ffaa79" },
  { "md5", string.rep("\12", 16), "Test With Truncation", "56461ef2342edc00f9bab995690efd4c" },
  { "md5", string.rep("\170", 80), big_key_block, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd" },
  { "md5", string.rep("\170", 80), big_key_data, "6f630fad67cda0ee1fb1f562db3aa53e" },
  { "sha1", string.rep("\11", 20), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00" },
  { "sha1", "Jefe", "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" },
  { "sha1", string.rep("\170", 20), string.rep("\221", 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3" },
  { "sha1", bytes(1, 25), string.rep("\205", 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da" },
  { "sha1", string.rep("\12", 20), "Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04" },
  { "sha1", string.rep("\170", 80), big_key_block, "aa4ae5e15272d00e95705637ce8a3b55ed402112" },
  { "sha1", string.rep("\170", 80), big_key_data, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91" },
  { "sha256", string.rep("\11", 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
  { "sha256", "Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
  { "sha256", string.rep("\170", 20), string.rep("\221", 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
  { "sha256", bytes(1, 25), string.rep("\205", 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
  { "sha256", string.rep("\170", 131), big_key_block, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
  { "sha256", string.rep("\170", 131), rfc4231_data7, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
  { "sha512", string.rep("\11", 20), "Hi There", "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
  { "sha512", "Jefe", "what do ya want for nothing?", "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
  { "sha512", string.rep("\170", 20), string.rep("\221", 50), "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
  { "sha512", bytes(1, 25), string.rep("\205", 50), "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
  { "sha512", string.rep("\170", 131), big_key_block, "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
  { "sha512", string.rep("\170", 131), rfc4231_data7, "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
}) do
  check(crypto.hmac(v[1], v[2], v[3]), v[4], "hmac " .. v[1] .. " " .. v[3]:sub(1, 20))
  check(crypto.hmac(v[1], v[2], v[3], true), unhex(v[4]), "hmac " .. v[1] .. " raw")
end
-- RFC 4231 case 5: the output truncated to 128 bits
check(crypto.hmac("sha256", string.rep("\12", 20), "Test With Truncation"):sub(1, 32), "a3b6167473100ee06e0c796c2955552b", "rfc4231 case 5 sha256")
check(crypto.hmac("sha512", string.rep("\12", 20), "Test With Truncation"):sub(1, 32), "415fad6271580a531d4179bc891d87a6", "rfc4231 case 5 sha512")
-- the algorithm's name in any case
check(crypto.hmac("SHA256", "Jefe", "what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "hmac SHA256")

-- equal
check(crypto.equal("abc", "abc"), true, "equal")
check(crypto.equal("abc", "abd"), false, "not equal")
check(crypto.equal("abc", "ab"), false, "lengths differ")
check(crypto.equal("", ""), true, "empty")
check(crypto.equal(crypto.hmac("sha256", "k", "m"), crypto.hmac("sha256", "k", "m")), true, "hmacs")

-- random_bytes
check(#crypto.random_bytes(0), 0, "random_bytes(0)")
check(#crypto.random_bytes(32), 32, "random_bytes(32)")
check(#crypto.random_bytes(1048576), 1048576, "random_bytes(1 MiB)")
check(crypto.random_bytes(16) ~= crypto.random_bytes(16), true, "random")
