// Tests for lib/scramble_dirent and lib/scramble_htree: the record codec,
// the choice of index shape, and the structure of a rebuilt htree (limits,
// counts, hash order, continuation bits, every block referenced once).
#include "lib/scramble/scramble_htree.h"

#include <map>
#include <set>
#include <string>

#include "lib/base/endian.h"
#include "tests/unit/test_util.h"

namespace e2q::scramble {
namespace {

TEST(DirentTest, ParsesAndBuildsLeaves) {
  const uint32_t bs = 1024;
  std::vector<DirEntry> entries = {{12, 1, "alpha"}, {13, 2, "b"}};
  std::vector<uint8_t> block(bs);
  BuildLeafBlock(entries, 0, 2, /*with_tail=*/true, bs, block.data());
  std::vector<DirentRef> recs;
  ASSERT_TRUE(ParseDirents(block.data(), bs, &recs));
  ASSERT_EQ(recs.size(), 3u);  // two entries and the tail
  EXPECT_EQ(recs[0].inode, 12u);
  EXPECT_EQ(recs[0].rec_len, DirentSize(5));
  EXPECT_EQ(recs[1].inode, 13u);
  EXPECT_EQ(recs[1].offset + recs[1].rec_len, bs - kDirentTailSize);
  EXPECT_TRUE(HasDirentTail(block.data(), bs));
  // A record running past the block is refused.
  StoreLE16(block.data() + 4, 2000);
  recs.clear();
  EXPECT_FALSE(ParseDirents(block.data(), bs, &recs));
  EXPECT_TRUE(recs.empty());
}

TEST(DirentTest, RecLenOf64KBlocks) {
  uint8_t rec[8] = {};
  EncodeRecLen(rec, 65536, 65536);
  EXPECT_EQ(LoadLE16(rec + 4), 65535);
  EXPECT_EQ(DecodeRecLen(rec, 65536), 65536u);
  EncodeRecLen(rec, 65540, 131072);
  EXPECT_EQ(DecodeRecLen(rec, 131072), 65540u);
  EncodeRecLen(rec, 12, 65536);
  EXPECT_EQ(DecodeRecLen(rec, 65536), 12u);
}

HtreeGeometry Geo(uint64_t blocks, int levels = 1) {
  return HtreeGeometry{1024, true, levels, blocks};
}

TEST(HtreeShapeTest, ShallowestShapeThatUsesEveryBlock) {
  EXPECT_EQ(DxRootLimit(Geo(2)), 123u);  // (1024 - 32 - 8) / 8
  EXPECT_EQ(DxNodeLimit(Geo(2)), 126u);  // (1024 - 8 - 8) / 8
  EXPECT_FALSE(ChooseHtreeShape(Geo(1)).ok());
  ASSERT_OK_AND_ASSIGN(HtreeShape s, ChooseHtreeShape(Geo(124)));
  EXPECT_EQ(s.indirect_levels, 0);
  EXPECT_EQ(s.leaves, 123u);
  ASSERT_OK_AND_ASSIGN(s, ChooseHtreeShape(Geo(125)));
  EXPECT_EQ(s.indirect_levels, 1);
  EXPECT_EQ(s.lower_nodes, 1u);
  EXPECT_EQ(s.leaves, 123u);
  ASSERT_OK_AND_ASSIGN(s, ChooseHtreeShape(Geo(5000)));
  EXPECT_EQ(s.indirect_levels, 1);
  EXPECT_EQ(s.lower_nodes + s.leaves, 4999u);
  EXPECT_LE(s.leaves, s.lower_nodes * 126);
  // Past 123 * 127 blocks, two levels of nodes are needed (largedir).
  EXPECT_FALSE(ChooseHtreeShape(Geo(20000, 1)).ok());
  ASSERT_OK_AND_ASSIGN(s, ChooseHtreeShape(Geo(20000, 2)));
  EXPECT_EQ(s.indirect_levels, 2);
  EXPECT_EQ(1 + s.upper_nodes + s.lower_nodes + s.leaves, 20000u);
  EXPECT_LE(s.leaves, s.lower_nodes * 126);
  EXPECT_LE(s.lower_nodes, s.upper_nodes * 126);
}

// Walks a built tree: returns leaf block -> lower bound hash, checking the
// index blocks on the way.
void WalkIndex(const std::vector<std::vector<uint8_t>>& blocks, uint32_t block,
               uint32_t header, uint32_t expect_limit, int levels_below,
               uint32_t lower, std::map<uint32_t, uint32_t>* leaves,
               std::set<uint32_t>* seen) {
  ASSERT_TRUE(seen->insert(block).second) << "block referenced twice";
  const uint8_t* c = blocks[block].data() + header;
  EXPECT_EQ(LoadLE16(c), expect_limit);
  uint16_t count = LoadLE16(c + 2);
  ASSERT_GE(count, 1);
  ASSERT_LE(count, expect_limit);
  uint32_t prev = lower;
  for (uint16_t i = 0; i < count; ++i) {
    uint32_t hash = i == 0 ? lower : LoadLE32(c + 8 * i);
    uint32_t child = LoadLE32(c + 8 * i + 4);
    EXPECT_GE(hash & ~1u, prev & ~1u);
    prev = hash;
    ASSERT_LT(child, blocks.size());
    if (levels_below == 0) {
      ASSERT_TRUE(seen->insert(child).second);
      (*leaves)[child] = hash;
    } else {
      WalkIndex(blocks, child, kDxNodeHeaderSize, 126, levels_below - 1, hash,
                leaves, seen);
    }
  }
}

TEST(HtreeBuildTest, IndexCoversEveryLeafInHashOrder) {
  const uint64_t nblocks = 300;  // one level of nodes at 1 KiB
  std::vector<HashedEntry> entries;
  for (uint32_t i = 0; i < 6000; ++i) {
    // Every hash twice, so some pairs straddle leaves.
    uint32_t hash = (i / 2) * 0x2c0000u & ~1u;
    entries.push_back({{1000 + i, 1, "n" + std::to_string(i)}, hash, i});
  }
  uint8_t header[kDxRootHeaderSize] = {};
  StoreLE32(header, 2);
  header[6] = 1;
  header[8] = '.';
  StoreLE32(header + 12, 2);
  header[18] = 2;
  header[20] = header[21] = '.';
  header[kDxRootInfoOffset + 4] = 1;  // half_md4
  header[kDxRootInfoOffset + 5] = 8;
  ASSERT_OK_AND_ASSIGN(auto blocks, BuildHtree(Geo(nblocks), header, entries));
  ASSERT_EQ(blocks.size(), nblocks);
  const uint8_t* root = blocks[0].data();
  EXPECT_EQ(DecodeRecLen(root + 12, 1024), 1024u - 12);
  EXPECT_EQ(root[kDxRootInfoOffset + 6], 1);  // indirect levels
  std::map<uint32_t, uint32_t> leaves;
  std::set<uint32_t> seen;
  WalkIndex(blocks, 0, kDxRootHeaderSize, 123, 1, 0, &leaves, &seen);
  EXPECT_EQ(seen.size(), nblocks);  // every block referenced exactly once
  // Leaves in index order hold every entry once, in hash order, each within
  // its lower bound; a leaf starting with the previous leaf's last hash has
  // the continuation bit.
  std::vector<std::pair<uint32_t, uint32_t>> order;  // (bound, block)
  for (auto [block, bound] : leaves) order.push_back({bound, block});
  std::sort(order.begin(), order.end());
  size_t total = 0;
  uint32_t last_hash = 0;
  bool any_continued = false;
  for (auto [bound, block] : order) {
    std::vector<DirentRef> recs;
    ASSERT_TRUE(ParseDirents(blocks[block].data(), 1024, &recs));
    ASSERT_TRUE(HasDirentTail(blocks[block].data(), 1024));
    bool first = true;
    for (const DirentRef& r : recs) {
      if (r.inode == 0) continue;
      uint32_t hash = ((r.inode - 1000) / 2) * 0x2c0000u & ~1u;
      EXPECT_GE(hash, bound & ~1u);
      EXPECT_GE(hash, last_hash);
      if (first && total > 0) {
        EXPECT_EQ((bound & 1) != 0, hash == last_hash);
        any_continued |= (bound & 1) != 0;
      }
      first = false;
      last_hash = hash;
      ++total;
    }
  }
  EXPECT_EQ(total, entries.size());
  EXPECT_TRUE(any_continued);
}

TEST(HtreeBuildTest, EntriesThatCannotFitAreRefused) {
  std::vector<HashedEntry> entries;
  for (uint32_t i = 0; i < 10; ++i) {
    entries.push_back({{20 + i, 1, std::string(250, 'a' + i)}, i * 2, 0});
  }
  uint8_t header[kDxRootHeaderSize] = {};
  header[kDxRootInfoOffset + 5] = 8;
  // Three leaves of 1012 usable bytes hold 3 records of 260 bytes each.
  auto r = BuildHtree(Geo(4), header, entries);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotSupported);
  ASSERT_TRUE(BuildHtree(Geo(5), header, entries).ok());
}

}  // namespace
}  // namespace e2q::scramble
