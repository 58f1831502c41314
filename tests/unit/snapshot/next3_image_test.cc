// Tests for snapshot/next3_image: the read-through rule over hand-built
// chains of snapshot maps (the oldest mapping wins, holes fall through to
// newer snapshots and then to the live device), block-bitmap synthesis and
// zeroed exclude bitmaps on fall-through only, and reads coalesced into
// large device reads.
#include "snapshot/next3_image.h"

#include <memory>
#include <vector>

#include "tests/unit/snapshot/next3_test_util.h"
#include "tests/unit/test_util.h"

namespace e2q::snapshot {
namespace {

using testing::CountingFile;
using testing::FillBlock;
using testing::TaggedDevice;
using testing::TagOf;

constexpr uint64_t kDevBlocks = 128;
constexpr uint64_t kBitmap = 3;   // live block bitmap of group 0
constexpr uint64_t kExclude = 5;  // live exclude bitmap of group 0

std::shared_ptr<const SnapshotMap> Map(
    std::vector<std::pair<uint64_t, uint64_t>> pairs) {
  return std::make_shared<const SnapshotMap>(
      SnapshotMap::FromPairs(std::move(pairs), BlockSet()));
}

class Next3ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = TaggedDevice(kDevBlocks);
    counting_ = std::make_unique<CountingFile>(dev_.get());
    live_ = std::make_shared<LiveLayout>();
    live_->blocks_count = kDevBlocks;
    live_->block_bitmaps = {kBitmap};
    exclude_ = std::make_shared<ExcludeBitmap>(std::vector<uint64_t>{kExclude});
    // Live bitmap: all set; exclude bitmap: the low nibble of each byte.
    FillBlock(dev_.get(), kBitmap, 0xFF);
    FillBlock(dev_.get(), kExclude, 0x0F);
  }
  std::unique_ptr<ReadThroughFile> Image(
      std::vector<std::shared_ptr<const SnapshotMap>> chain,
      uint64_t blocks = 100) {
    return std::make_unique<ReadThroughFile>("fs: snapshot 1", counting_.get(),
                                             std::move(chain), live_, exclude_,
                                             blocks);
  }
  // The tags of image blocks [first, first + count).
  std::vector<uint64_t> Tags(ReadThroughFile* f, uint64_t first,
                             uint64_t count) {
    std::vector<uint8_t> buf(count * kBlockSize);
    Status s = f->ReadBlocks(first, count, buf.data());
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < count; ++i) {
      out.push_back(TagOf(buf.data() + i * kBlockSize));
    }
    return out;
  }

  std::unique_ptr<io::MemFile> dev_;
  std::unique_ptr<CountingFile> counting_;
  std::shared_ptr<LiveLayout> live_;
  std::shared_ptr<ExcludeBitmap> exclude_;
};

TEST_F(Next3ImageTest, OldestMappingWinsThenNewerSnapshotsThenLive) {
  // Snapshot k (first in the chain) and the newer, active one.
  auto k = Map({{10, 40}, {11, 41}});
  auto active = Map({{11, 50}, {12, 51}});
  auto image = Image({k, active});
  EXPECT_EQ(Tags(image.get(), 9, 5),
            (std::vector<uint64_t>{9, 40, 41, 51, 13}));
  // The active snapshot's own image: its map, then live.
  auto newest = Image({active});
  EXPECT_EQ(Tags(newest.get(), 10, 3), (std::vector<uint64_t>{10, 50, 51}));
}

TEST_F(Next3ImageTest, AHoleInTheOlderSnapshotLimitsTheNewerRun) {
  // The newer snapshot maps 10..20 in one run, the older one only 15: the
  // run must be cut at 15 and resumed after it.
  std::vector<std::pair<uint64_t, uint64_t>> run;
  for (uint64_t b = 10; b <= 20; ++b) run.emplace_back(b, 60 + (b - 10));
  auto image = Image({Map({{15, 90}}), Map(run)});
  EXPECT_EQ(
      Tags(image.get(), 10, 11),
      (std::vector<uint64_t>{60, 61, 62, 63, 64, 90, 66, 67, 68, 69, 70}));
  ReadThroughFile::Source s = image->Resolve(10, 100);
  EXPECT_EQ(s.kind, ReadThroughFile::Source::kLayer);
  EXPECT_EQ(s.layer, 1u);
  EXPECT_EQ(s.count, 5u);
  s = image->Resolve(15, 100);
  EXPECT_EQ(s.layer, 0u);
  EXPECT_EQ(s.count, 1u);
}

TEST_F(Next3ImageTest, LiveBlockBitmapIsMaskedWithTheExcludeBitmap) {
  auto image = Image({Map({})});
  std::vector<uint8_t> buf(kBlockSize);
  ASSERT_OK(image->ReadBlocks(kBitmap, 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0xF0));
  EXPECT_EQ(image->Resolve(kBitmap, 10).kind,
            ReadThroughFile::Source::kBlockBitmap);
}

TEST_F(Next3ImageTest, LiveExcludeBitmapReadsAsZeros) {
  auto image = Image({Map({})});
  std::vector<uint8_t> buf(3 * kBlockSize);
  ASSERT_OK(image->ReadBlocks(kExclude - 1, 3, buf.data()));
  EXPECT_EQ(TagOf(buf.data()), kExclude - 1);
  EXPECT_EQ(std::vector<uint8_t>(buf.begin() + kBlockSize,
                                 buf.begin() + 2 * kBlockSize),
            std::vector<uint8_t>(kBlockSize, 0));
  EXPECT_EQ(TagOf(buf.data() + 2 * kBlockSize), kExclude + 1);
}

TEST_F(Next3ImageTest, SubstitutionsApplyOnlyOnFallThrough) {
  // A snapshot that holds its own copy of the bitmap block (its COW
  // bitmap) and, for the sake of the rule, of the exclude block: both are
  // read as stored.
  auto image = Image({Map({}), Map({{kBitmap, 70}, {kExclude, 71}})});
  EXPECT_EQ(Tags(image.get(), kBitmap, 3),
            (std::vector<uint64_t>{70, kBitmap + 1, 71}));
}

TEST_F(Next3ImageTest, NoExcludeBitmapMeansTheLiveBitmapAsIs) {
  exclude_ = std::make_shared<ExcludeBitmap>();
  auto image = Image({Map({})});
  std::vector<uint8_t> buf(kBlockSize);
  ASSERT_OK(image->ReadBlocks(kBitmap, 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0xFF));
  ASSERT_OK(image->ReadBlocks(kExclude, 1, buf.data()));
  EXPECT_EQ(buf, std::vector<uint8_t>(kBlockSize, 0x0F));  // as stored
}

TEST_F(Next3ImageTest, ContiguousDeviceBlocksAreReadAtOnce) {
  // 20..39 live, 40 moved into the snapshot (mapped to itself), 41..59
  // live: one device read.  Then a copied block in the middle splits the
  // range into three reads.
  auto image = Image({Map({{40, 40}})});
  counting_->reset();
  std::vector<uint8_t> buf(40 * kBlockSize);
  ASSERT_OK(image->ReadBlocks(20, 40, buf.data()));
  EXPECT_EQ(counting_->reads(), 1u);
  for (uint64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(TagOf(buf.data() + i * kBlockSize), 20 + i);
  }
  auto copied = Image({Map({{40, 90}})});
  counting_->reset();
  ASSERT_OK(copied->ReadBlocks(20, 40, buf.data()));
  EXPECT_EQ(counting_->reads(), 3u);
  EXPECT_EQ(TagOf(buf.data() + 20 * kBlockSize), 90u);
}

TEST_F(Next3ImageTest, FileInterfaceReadsUnalignedAndStopsAtTheEnd) {
  auto image = Image({Map({{0, 77}})}, 50);
  ASSERT_OK_AND_ASSIGN(uint64_t size, image->Size());
  EXPECT_EQ(size, 50 * kBlockSize);
  // The superblock as libext2fs reads it: 1024 bytes at 1024 of block 0.
  std::vector<uint8_t> sb(1024);
  ASSERT_OK(image->ReadAt(1024, sb.data(), sb.size()));
  EXPECT_EQ(sb[0], (77 & 0x7F) | 0x80);
  // Across a block boundary.
  std::vector<uint8_t> two(8);
  ASSERT_OK(image->ReadAt(2 * kBlockSize - 4, two.data(), two.size()));
  EXPECT_EQ(two[3], (1 & 0x7F) | 0x80);
  EXPECT_EQ(two[4], 2);  // the first tag byte of block 2
  ASSERT_OK_AND_ASSIGN(size_t n,
                       image->ReadSome(49 * kBlockSize, sb.data(), 1024));
  EXPECT_EQ(n, 1024u);
  ASSERT_OK_AND_ASSIGN(n, image->ReadSome(50 * kBlockSize, sb.data(), 1024));
  EXPECT_EQ(n, 0u);
  std::vector<uint8_t> big(2 * kBlockSize);
  Status s = image->ReadAt(49 * kBlockSize, big.data(), big.size());
  EXPECT_FALSE(s.ok());
  s = image->ReadBlocks(49, 2, big.data());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(image->WriteAt(0, big.data(), 1).code(), Code::kNotSupported);
  EXPECT_EQ(image->Truncate(0).code(), Code::kNotSupported);
}

TEST_F(Next3ImageTest, DeviceErrorsNameTheImageBlocks) {
  live_->blocks_count = 1000;
  auto image = Image({Map({})}, 1000);
  std::vector<uint8_t> buf(4 * kBlockSize);
  Status s = image->ReadBlocks(kDevBlocks - 2, 4, buf.data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fs: snapshot 1: image blocks 126..129"),
            std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace e2q::snapshot
