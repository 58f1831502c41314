// Tests for lib/scramble_names: replacement names keep their length, are
// unique in their directory, never "." or "..", avoid the originals while
// possible, and are the same on every run.
#include "lib/scramble/scramble_names.h"

#include <set>
#include <string>

#include "tests/unit/test_util.h"

namespace e2q::scramble {
namespace {

bool ValidName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." &&
         n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

TEST(NameGeneratorTest, SameLengthUniqueAndAlphanumeric) {
  NameGenerator gen(false, 7);
  std::set<std::string> seen;
  for (size_t len : {1, 2, 3, 10, 255}) {
    for (int i = 0; i < 50; ++i) {
      ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(len));
      EXPECT_EQ(n.size(), len);
      EXPECT_TRUE(ValidName(n));
      for (char c : n) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)));
      EXPECT_TRUE(seen.insert(n).second) << n;
    }
  }
}

TEST(NameGeneratorTest, SkipsOriginalsAndReservedNames) {
  NameGenerator gen(false, 7);
  gen.AddOriginal("0");
  gen.AddOriginal("1");
  gen.Reserve("2");
  // The 59 other alphanumerics come first, then the wider alphabet.
  std::set<std::string> seen;
  for (int i = 0; i < 59; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(1));
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(n[0]))) << i;
    EXPECT_TRUE(n != "0" && n != "1" && n != "2") << n;
    EXPECT_TRUE(seen.insert(n).second);
  }
  ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(1));
  EXPECT_FALSE(std::isalnum(static_cast<unsigned char>(n[0])));
}

TEST(NameGeneratorTest, NoVisibleCounter) {
  // Replacements of numbered names must not be "0", "4", "5"...: a counter
  // that skips the originals would show which originals there were.
  NameGenerator gen(false, 12);
  for (const char* o : {"1", "2", "3"}) gen.AddOriginal(o);
  std::string first3;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(1));
    first3 += n;
  }
  EXPECT_NE(first3, "045");
  EXPECT_NE(first3, "456");
}

TEST(NameGeneratorTest, CrowdedOneByteNamesUseTheWideAlphabet) {
  // 200 one-byte names: more than the 62 alphanumerics and more than half
  // of the 253 possible, so the last tier (originals allowed) is reached.
  NameGenerator gen(false, 7);
  std::set<std::string> originals;
  for (int c = 1; c < 256 && originals.size() < 200; ++c) {
    if (c == '/' || c == '.') continue;
    std::string s(1, static_cast<char>(c));
    originals.insert(s);
    gen.AddOriginal(s);
  }
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(1));
    EXPECT_TRUE(ValidName(n));
    EXPECT_TRUE(seen.insert(n).second);
  }
  // The first 53 non-original names are used before any original.
  int reused = 0;
  for (const std::string& n : seen) reused += originals.count(n);
  EXPECT_EQ(reused, 200 - 53);
}

TEST(NameGeneratorTest, EveryNameOfALengthCanBeHandedOut) {
  NameGenerator gen(false, 7);
  for (int i = 0; i < 253; ++i) ASSERT_TRUE(gen.Next(1).ok()) << i;
  EXPECT_FALSE(gen.Next(1).ok());
  EXPECT_FALSE(gen.Next(0).ok());
  EXPECT_FALSE(gen.Next(256).ok());
}

TEST(NameGeneratorTest, CasefoldedNamesDifferAfterFolding) {
  NameGenerator gen(true, 7);
  gen.Reserve("A");  // folds to "a": must not be generated
  std::set<std::string> folded;
  for (int i = 0; i < 98; ++i) {  // 99 folded one-byte names, "a" taken
    ASSERT_OK_AND_ASSIGN(std::string n, gen.Next(1));
    EXPECT_TRUE(ValidName(n));
    EXPECT_NE(n, "a");
    std::string f = n;
    for (char& c : f) c = static_cast<char>(std::tolower(c));
    EXPECT_TRUE(folded.insert(f).second) << n;
    EXPECT_LT(static_cast<unsigned char>(n[0]), 0x80);
  }
  EXPECT_FALSE(gen.Next(1).ok());
}

TEST(NameGeneratorTest, DeterministicPerDirectory) {
  NameGenerator a(false, 5), b(false, 5), other(false, 6);
  for (auto* g : {&a, &b, &other}) g->AddOriginal("secret");
  int same_as_other = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string x, a.Next(6));
    ASSERT_OK_AND_ASSIGN(std::string y, b.Next(6));
    ASSERT_OK_AND_ASSIGN(std::string z, other.Next(6));
    EXPECT_EQ(x, y);
    same_as_other += x == z;
  }
  // Another directory with the same names gets other replacements.
  EXPECT_LT(same_as_other, 5);
}

TEST(ScrambledSymlinkTargetTest, LengthAndDeterminism) {
  EXPECT_EQ(ScrambledSymlinkTarget(12, 0), "");
  std::string t = ScrambledSymlinkTarget(12, 300);
  EXPECT_EQ(t.size(), 300u);
  EXPECT_EQ(t, ScrambledSymlinkTarget(12, 300));
  EXPECT_NE(t, ScrambledSymlinkTarget(13, 300));
  EXPECT_EQ(t.find('/'), std::string::npos);
  EXPECT_EQ(t.find('\0'), std::string::npos);
}

}  // namespace
}  // namespace e2q::scramble
