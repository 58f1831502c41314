// HashIndex: look-ups, replacement, probing past equal low bits, growth.
#include "lib/qcow2/hash_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace e2q::qcow2 {
namespace {

struct Value {
  uint64_t v = 0;
  bool empty() const { return v == 0; }
};

TEST(HashIndexTest, EmptyFindsNothing) {
  HashIndex<Value> index;
  EXPECT_EQ(index.Find(0), nullptr);
  EXPECT_EQ(index.Find(12345), nullptr);
  EXPECT_EQ(index.size(), 0u);
}

TEST(HashIndexTest, SetFindAndReplace) {
  HashIndex<Value> index;
  index.Set(7, Value{70});
  index.Set(0, Value{1});  // key 0 is a key like any other
  ASSERT_NE(index.Find(7), nullptr);
  EXPECT_EQ(index.Find(7)->v, 70u);
  ASSERT_NE(index.Find(0), nullptr);
  EXPECT_EQ(index.Find(0)->v, 1u);
  index.Set(7, Value{71});
  EXPECT_EQ(index.Find(7)->v, 71u);
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find(8), nullptr);
}

TEST(HashIndexTest, KeysWithEqualLowBitsProbeOn) {
  HashIndex<Value> index;
  // All land in one slot of any table up to 2^32 slots.
  for (uint64_t i = 1; i <= 600; ++i) index.Set(i << 32, Value{i});
  EXPECT_EQ(index.size(), 600u);
  for (uint64_t i = 1; i <= 600; ++i) {
    const Value* v = index.Find(i << 32);
    ASSERT_NE(v, nullptr) << i;
    EXPECT_EQ(v->v, i);
  }
  EXPECT_EQ(index.Find(601ull << 32), nullptr);
}

TEST(HashIndexTest, AgreesWithStdMapThroughGrowth) {
  HashIndex<Value> index;
  std::map<uint64_t, uint64_t> model;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    // A small key space, so that keys repeat and values are replaced.
    const uint64_t key = rng() % 50000 * 0x9E3779B97F4A7C15ull;
    const uint64_t value = rng() | 1;
    index.Set(key, Value{value});
    model[key] = value;
  }
  EXPECT_EQ(index.size(), model.size());
  for (const auto& [key, value] : model) {
    const Value* v = index.Find(key);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->v, value);
  }
  for (int i = 0; i < 1000; ++i) {
    const uint64_t key = rng();
    if (model.count(key) == 0) {
      EXPECT_EQ(index.Find(key), nullptr);
    }
  }
}

}  // namespace
}  // namespace e2q::qcow2
