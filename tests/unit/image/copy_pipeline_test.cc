// Tests for lib/copy_pipeline and lib/image_sink (raw): selected blocks land
// at their own offsets, unselected ones read as zeros, transforms apply, a
// short source is reported, not fatal, and holes of the source are neither
// read nor written.
#include "lib/image/copy_pipeline.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <random>

#include "lib/base/is_zero.h"
#include "lib/image/image_sink.h"
#include "tests/unit/hint_log_file.h"
#include "tests/unit/holey_file.h"
#include "tests/unit/test_util.h"

namespace e2q {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng() | 1);  // never zero
  return v;
}

std::vector<uint8_t> Expected(const std::vector<uint8_t>& src,
                              const BlockSet& set, uint32_t bs) {
  std::vector<uint8_t> out(src.size(), 0);
  for (const auto& r : set.Runs()) {
    std::copy(src.begin() + r.start * bs,
              src.begin() + (r.start + r.count) * bs,
              out.begin() + r.start * bs);
  }
  return out;
}

// Blocks of `bs` bytes, reads of at most `max_read`; the progress callback
// leaves the number of blocks done in *last.
image::CopyOptions Options(uint32_t bs, uint64_t max_read, uint64_t* last) {
  image::CopyOptions o;
  o.block_size = bs;
  o.max_read_bytes = max_read;
  o.progress = [last](uint64_t done) { *last = done; };
  return o;
}

TEST(CopyPipelineTest, CopiesSelectedBlocksOnly) {
  const uint32_t bs = 1024;
  auto src = RandomBytes(bs * 5000, 1);
  io::MemFile source("src", src);
  BlockSet set;
  set.Add(0, 3);
  set.Add(10);
  set.Add(12, 100);   // small gap to the previous run: read together
  set.Add(2000, 2500);  // larger than one read
  set.Add(4999);
  for (uint64_t max_read : {uint64_t{bs}, uint64_t{64} << 10, uint64_t{8} << 20}) {
    io::MemFile out("out");
    auto sink = image::NewRawSink(&out, src.size(), /*sparse=*/true, 4096);
    uint64_t last = 0;
    const image::CopyOptions o = Options(bs, max_read, &last);
    ASSERT_OK_AND_ASSIGN(image::CopyStats st,
                         image::CopyBlocks(&source, set, sink.get(), o));
    EXPECT_EQ(st.blocks_read, set.size());
    EXPECT_EQ(last, set.size());
    EXPECT_EQ(out.data(), Expected(src, set, bs));
  }
}

TEST(CopyPipelineTest, SlowReadsAnnounceChunksAheadAndCopyTheSame) {
  const uint32_t bs = 4096;
  auto src = RandomBytes(bs * 4096, 3);
  BlockSet set;
  for (uint64_t b = 0; b < 4096; b += 16) set.Add(b, 2);  // scattered
  for (auto delay :
       {std::chrono::microseconds(0), std::chrono::microseconds(300)}) {
    HintLogFile source(src, delay);
    io::MemFile out("out");
    auto sink = image::NewRawSink(&out, src.size(), /*sparse=*/true, 4096);
    image::CopyOptions o;
    o.block_size = bs;
    o.max_read_bytes = 64 << 10;  // 8 pieces of 8 KiB per chunk: 32 chunks
    ASSERT_OK(image::CopyBlocks(&source, set, sink.get(), o).status());
    EXPECT_EQ(out.data(), Expected(src, set, bs));
    const auto hints = source.hints();
    if (delay.count() == 0) {
      // Reads that do not wait: one reader thread.
      EXPECT_TRUE(hints.empty());
      EXPECT_EQ(source.reader_threads(), 1u);
      continue;
    }
    // Reads that wait: a second reader joins.
    EXPECT_EQ(source.reader_threads(), 2u);
    ASSERT_FALSE(hints.empty());
    // Hints cover selected blocks only within their merged stretches, and
    // reach the last selected block.
    uint64_t end = 0;
    for (const auto& [off, len] : hints) end = std::max(end, off + len);
    EXPECT_EQ(end, (4096 - 16 + 2) * uint64_t{bs});
  }
}

TEST(CopyPipelineTest, AppliesTransformToSelectedRuns) {
  const uint32_t bs = 4096;
  auto src = RandomBytes(bs * 64, 2);
  io::MemFile source("src", src);
  BlockSet set;
  set.Add(4, 8);
  io::MemFile out("out");
  auto sink = image::NewRawSink(&out, src.size(), true);
  image::CopyOptions o;
  o.block_size = bs;
  o.transform = [&](uint64_t first, uint64_t count, uint8_t* data) {
    for (uint64_t i = 0; i < count * bs; ++i) data[i] ^= 0xff;
    EXPECT_GE(first, 4u);
    return Status::OK();
  };
  ASSERT_OK_AND_ASSIGN(image::CopyStats st,
                       image::CopyBlocks(&source, set, sink.get(), o));
  (void)st;
  for (uint64_t i = 4 * bs; i < 12 * bs; ++i) {
    ASSERT_EQ(out.data()[i], uint8_t(src[i] ^ 0xff));
  }
}

// Records what reaches it, as [offset, end) ranges, and passes it on.
class RecordingSink : public image::ImageSink {
 public:
  explicit RecordingSink(image::ImageSink* inner) : inner_(inner) {}
  Status Write(uint64_t offset, const uint8_t* data, size_t len) override {
    writes.emplace_back(offset, offset + len);
    return inner_->Write(offset, data, len);
  }
  Status Finish() override { return inner_->Finish(); }
  std::vector<std::pair<uint64_t, uint64_t>> writes;

 private:
  image::ImageSink* inner_;
};

TEST(CopyPipelineTest, HolesOfTheSourceAreNeitherReadNorWritten) {
  const uint32_t bs = 4096;
  // Holes: one inside a run, one across two runs and the gap between them,
  // one that starts and ends inside blocks (only its whole blocks count),
  // and one to the end of the source.
  const std::vector<std::pair<uint64_t, uint64_t>> holes = {
      {8 * bs, 20 * bs},
      {100 * bs, 150 * bs},
      {300 * bs + 1000, 303 * bs + 10},
      {1000 * bs, 1024 * bs}};
  HoleyFile source(RandomBytes(bs * 1024, 5), holes);
  const std::vector<uint8_t> src = source.data();
  BlockSet set;
  set.Add(0, 64);
  set.Add(90, 30);
  set.Add(125, 40);  // a gap of 5 blocks from the previous run
  set.Add(299, 8);
  set.Add(990, 34);
  for (uint64_t max_read : {uint64_t{16} * bs, uint64_t{2} << 20}) {
    const uint64_t hole_bytes_before = source.hole_bytes_read();
    io::MemFile out("out");
    auto raw = image::NewRawSink(&out, src.size(), /*sparse=*/true, 4096);
    RecordingSink sink(raw.get());
    uint64_t last = 0;
    const image::CopyOptions o = Options(bs, max_read, &last);
    ASSERT_OK_AND_ASSIGN(image::CopyStats st,
                         image::CopyBlocks(&source, set, &sink, o));
    EXPECT_EQ(st.blocks_read, set.size());
    EXPECT_EQ(last, set.size());
    EXPECT_EQ(out.data(), Expected(src, set, bs));
    // Nothing of a hole's whole blocks was written; the partial blocks
    // around the third hole (blocks 300 and 303) were read and written.
    for (const auto& [a, b] : sink.writes) {
      for (const auto& [ha, hb] : holes) {
        const uint64_t whole_from = (ha + bs - 1) / bs * bs;
        const uint64_t whole_to = hb / bs * bs;
        EXPECT_FALSE(a < whole_to && whole_from < b)
            << "write [" << a << ", " << b << ") in hole [" << ha << ", " << hb
            << ")";
      }
    }
    auto written = [&](uint64_t block) {
      for (const auto& [a, b] : sink.writes) {
        if (a <= block * bs && block * bs < b) return true;
      }
      return false;
    };
    EXPECT_TRUE(written(300));
    EXPECT_TRUE(written(303));
    EXPECT_TRUE(written(20));
    EXPECT_FALSE(written(301));
    // Reads touched holes only in their partial blocks, 300 and 303.
    EXPECT_EQ(source.hole_bytes_read() - hole_bytes_before, (bs - 1000) + 10u);
  }
}

// The read buffers' pages are touched only where reads reach: selected
// blocks that all lie in a hole of the source cost no buffer memory; data
// and a transform's zeros do, at most the buffers' size.
TEST(CopyPipelineTest, HolesTouchNoBufferPages) {
  const uint32_t bs = 4096;
  const uint64_t blocks = 4096;  // 16 MiB, the first 12 MiB a hole
  HoleyFile source(RandomBytes(bs * blocks, 9), {{0, 3072 * bs}});
  const uint64_t max_read = uint64_t{2} << 20;
  BlockSet in_hole;
  in_hole.Add(0, 3072);
  BlockSet with_data = in_hole;
  with_data.Add(3072, 1024);
  struct Case {
    const BlockSet* set;
    bool transform;
    bool touched;
  };
  for (const Case& k :
       {Case{&in_hole, false, false}, Case{&with_data, false, true},
        Case{&in_hole, true, true}}) {
    io::MemFile out("out");
    auto raw = image::NewRawSink(&out, source.data().size(), true, 4096);
    uint64_t last = 0;
    image::CopyOptions o = Options(bs, max_read, &last);
    if (k.transform) {
      o.transform = [](uint64_t, uint64_t, uint8_t*) { return Status::OK(); };
    }
    ASSERT_OK_AND_ASSIGN(image::CopyStats st,
                         image::CopyBlocks(&source, *k.set, raw.get(), o));
    EXPECT_EQ(out.data(), Expected(source.data(), *k.set, bs));
    if (k.touched) {
      EXPECT_GT(st.buffer_bytes_touched, 0u);
      // At most the buffers' size: each as long as a chunk, and at most
      // the queue's depth and the readers' of them.
      EXPECT_LE(st.buffer_bytes_touched, 8 * max_read);
    } else {
      EXPECT_EQ(st.buffer_bytes_touched, 0u);
    }
  }
}

TEST(CopyPipelineTest, ATransformSeesZerosForHoles) {
  const uint32_t bs = 1024;
  HoleyFile source(RandomBytes(bs * 64, 6), {{8 * bs, 24 * bs}});
  BlockSet set;
  set.Add(4, 40);
  io::MemFile out("out");
  auto sink = image::NewRawSink(&out, source.data().size(), true);
  image::CopyOptions o;
  o.block_size = bs;
  uint64_t seen = 0;
  o.transform = [&](uint64_t first, uint64_t count, uint8_t* data) {
    for (uint64_t b = first; b < first + count; ++b, data += bs) {
      const bool zero = IsZero(data, bs);
      EXPECT_EQ(zero, b >= 8 && b < 24) << b;
      ++seen;
    }
    return Status::OK();
  };
  ASSERT_OK(image::CopyBlocks(&source, set, sink.get(), o).status());
  EXPECT_EQ(seen, 40u);
  EXPECT_EQ(source.hole_bytes_read(), 0u);
  EXPECT_EQ(out.data(), Expected(source.data(), set, bs));
}

// inspect sees every selected block outside the source's holes once, with
// its bytes as read and before a transform changes them (which makes it
// see the blocks in holes too, as zeros).
TEST(CopyPipelineTest, InspectSeesSelectedBlocksAsRead) {
  const uint32_t bs = 1024;
  HoleyFile source(RandomBytes(bs * 256, 7), {{8 * bs, 24 * bs}});
  BlockSet set;
  set.Add(4, 40);
  set.Add(50, 3);  // a gap of 6 blocks: read with the run before
  set.Add(200, 56);
  for (const bool transform : {false, true}) {
    for (uint64_t max_read : {uint64_t{4} * bs, uint64_t{2} << 20}) {
      io::MemFile out("out");
      auto sink = image::NewRawSink(&out, source.data().size(), true);
      uint64_t last = 0;
      image::CopyOptions o = Options(bs, max_read, &last);
      std::mutex mu;
      std::vector<int> seen(256, 0);
      o.inspect = [&](uint64_t first, uint64_t count, const uint8_t* data) {
        std::lock_guard<std::mutex> lock(mu);
        for (uint64_t b = first; b < first + count; ++b, data += bs) {
          ++seen[b];
          EXPECT_TRUE(
              std::equal(data, data + bs, source.data().begin() + b * bs))
              << b;
        }
      };
      if (transform) {
        o.transform = [](uint64_t, uint64_t count, uint8_t* data) {
          std::fill(data, data + count * 1024, 0xee);
          return Status::OK();
        };
      }
      ASSERT_OK(image::CopyBlocks(&source, set, sink.get(), o).status());
      for (uint64_t b = 0; b < 256; ++b) {
        const bool shown = set.Contains(b) && (transform || b < 8 || b >= 24);
        EXPECT_EQ(seen[b], shown ? 1 : 0)
            << b << (transform ? " transform" : "");
      }
    }
  }
}

TEST(CopyPipelineTest, ShortSourceReadsZerosAndIsCounted) {
  const uint32_t bs = 1024;
  auto src = RandomBytes(bs * 10, 3);
  io::MemFile source("src", src);
  BlockSet set;
  set.Add(5, 10);  // blocks 10..14 lie past the end
  io::MemFile out("out");
  auto sink = image::NewRawSink(&out, bs * 20, true);
  image::CopyOptions o;
  o.block_size = bs;
  ASSERT_OK_AND_ASSIGN(image::CopyStats st,
                       image::CopyBlocks(&source, set, sink.get(), o));
  EXPECT_EQ(st.blocks_past_source_end, 5u);
  EXPECT_EQ(out.data().size(), bs * 20u);
}

TEST(CopyPipelineTest, TransformErrorStopsTheCopy) {
  const uint32_t bs = 1024;
  auto src = RandomBytes(bs * 4096, 4);
  io::MemFile source("src", src);
  BlockSet set;
  set.Add(0, 4096);
  io::MemFile out("out");
  auto sink = image::NewRawSink(&out, src.size(), true);
  image::CopyOptions o;
  o.block_size = bs;
  o.max_read_bytes = 16 * bs;
  o.transform = [](uint64_t first, uint64_t, uint8_t*) {
    return first >= 64 ? Status::Corruption("dir: bad block") : Status::OK();
  };
  auto r = image::CopyBlocks(&source, set, sink.get(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(RawSinkTest, SparseSkipsZerosButKeepsSize) {
  io::MemFile out("out");
  auto sink = image::NewRawSink(&out, 1 << 20, true, 4096);
  std::vector<uint8_t> data(65536, 0);
  data[5000] = 7;
  ASSERT_OK(sink->Write(8192, data.data(), data.size()));
  ASSERT_OK(sink->Finish());
  EXPECT_EQ(out.data().size(), 1u << 20);
  EXPECT_EQ(out.data()[8192 + 5000], 7);
  EXPECT_FALSE(sink->Write(1 << 20, data.data(), 1).ok());
}

TEST(IsZeroTest, FindsLoneByteAnywhere) {
  std::vector<uint8_t> buf(1000, 0);
  EXPECT_TRUE(IsZero(buf.data(), buf.size()));
  for (size_t off : {0u, 1u, 7u, 8u, 31u, 500u, 999u}) {
    buf[off] = 1;
    EXPECT_FALSE(IsZero(buf.data(), buf.size())) << off;
    EXPECT_TRUE(IsZero(buf.data() + off + 1, buf.size() - off - 1)) << off;
    buf[off] = 0;
  }
}

TEST(IsZeroTest, EveryLengthAndStartUpToSixtyFour) {
  // Short and unaligned runs take other paths than whole blocks.
  std::vector<uint8_t> buf(160, 0);
  for (size_t start = 0; start < 16; ++start) {
    for (size_t len = 0; len <= 64; ++len) {
      EXPECT_TRUE(IsZero(buf.data() + start, len)) << start << "+" << len;
      for (size_t i = 0; i < len; ++i) {
        buf[start + i] = 0x80;
        EXPECT_FALSE(IsZero(buf.data() + start, len))
            << start << "+" << len << " at " << i;
        buf[start + i] = 0;
      }
    }
  }
}

}  // namespace
}  // namespace e2q
