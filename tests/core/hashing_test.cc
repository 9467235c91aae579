#include "core/hashing.h"

#include <gtest/gtest.h>

#include "core/files.h"

namespace dsbench::core {
namespace {

// FIPS 180-2 test vectors.
TEST(Hashing, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Hashing, IncrementalEqualsOneShotAndFile) {
  Sha256 hasher;
  hasher.update("ab");
  hasher.update("c");
  EXPECT_EQ(hasher.hex_digest(), sha256_hex("abc"));
  const auto path = std::filesystem::temp_directory_path() / "dsbench-hash-test.txt";
  write_file_atomic(path, "abc");
  EXPECT_EQ(sha256_file(path), sha256_hex("abc"));
  std::filesystem::remove(path);
}

TEST(Hashing, StableHashIsFnv1a) {
  EXPECT_EQ(stable_hash64(""), 14695981039346656037ULL);
  EXPECT_EQ(stable_hash64("a"), 0xaf63dc4c8601ec8cULL);
}

}  // namespace
}  // namespace dsbench::core
