// Export mode: select the blocks, then copy them into the image.
#include "e2qimage/export_mode.h"

#include <cstdio>
#include <optional>
#include <thread>

#include "e2qimage/backing_base.h"
#include "e2qimage/inverted_export.h"
#include "e2qimage/output_checks.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/snapshot_source.h"
#include "e2qimage/stamp.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_select.h"
#include "lib/image/base_content.h"
#include "lib/image/copy_pipeline.h"
#include "lib/image/image_sink.h"
#include "lib/io/output_file.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"
#include "lib/scramble/scramble.h"

namespace e2q::cli {

namespace {

uint32_t Log2(uint64_t v) {
  uint32_t b = 0;
  while ((uint64_t{1} << b) < v) ++b;
  return b;
}

bool L1Fits(uint64_t virtual_size, uint32_t bits) {
  uint64_t per_l1 = uint64_t{1} << (2 * bits - 3);  // bytes per L2 table
  uint64_t l1 = (virtual_size + per_l1 - 1) / per_l1;
  return l1 * 8 <= qcow2::kMaxL1Bytes;
}

}  // namespace

Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& o, uint32_t cluster_bits, qcow2::Qcow2Writer* writer) {
  return NewCompressor(o, cluster_bits, [writer](uint8_t type) {
    return writer->SetCompressionType(type);
  });
}

Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& o, uint32_t cluster_bits,
    const std::function<Status(uint8_t)>& set_type) {
  auto algo = qcow2::ClusterCompressor::Algorithm::kDeflate;
  if (o.compress_zstd) {
    if (!qcow2::ZstdAvailable()) {
      return Status::NotSupported(
          "--compress=zstd: this e2qimage was built without libzstd");
    }
    algo = qcow2::ClusterCompressor::Algorithm::kZstd;
    E2Q_RETURN_IF_ERROR(set_type(qcow2::kCompressionZstd));
  }
  return qcow2::ClusterCompressor::Create(algo, *o.compress_level, o.threads,
                                          cluster_bits);
}

Result<uint32_t> ChooseClusterBits(const Options& o, uint64_t virtual_size,
                                   uint32_t block_size) {
  if (o.cluster_size) {
    uint32_t bits = Log2(*o.cluster_size);
    if (!L1Fits(virtual_size, bits)) {
      return Status::InvalidArgument(
          "--cluster-size=" + std::to_string(*o.cluster_size) +
          ": too small for a " + std::to_string(virtual_size) +
          "-byte image (qemu refuses L1 tables over 32 MiB)");
    }
    return bits;
  }
  uint32_t bits = o.all_data ? 16 : Log2(block_size);
  bits = std::max(bits, qcow2::kMinClusterBits);
  while (bits < qcow2::kMaxClusterBits && !L1Fits(virtual_size, bits)) ++bits;
  return bits;
}

Status RunExport(const Options& o) {
  const std::string& device_path = o.args[0];
  const std::string& image_path = o.args[1];
  if (o.export_all_snapshots) {
    if (!o.backing.empty()) {
      return Status::NotSupported(device_path +
                                  ": export: -X cannot be combined with "
                                  "--backing");
    }
    return RunExportAll(o);
  }
  std::optional<SnapshotSpec> spec;
  if (!o.export_snapshot.empty()) {
    spec = ParseSnapshotSpec(o.export_snapshot);
    if (!spec) {
      return Status::InvalidArgument(device_path + ": -x " +
                                     o.export_snapshot + ": malformed");
    }
  }
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMountedReadWrite(device_path, o.force));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       io::OpenFileForRead(device_path));
  // With -x, everything below reads the snapshot's normalised image
  // instead of the device: selection from the snapshot's own metadata.
  // -x ID1..ID2 reads ID2 (the device itself for ID1..live).
  io::File* source = device.get();
  SnapshotSource snapshot;
  if (spec) {
    E2Q_ASSIGN_OR_RETURN(snapshot, OpenSnapshotSource(o, device.get()));
    if (snapshot.image) {
      source = snapshot.image.get();
      if (snapshot.next3->needs_recovery()) {
        fprintf(stderr,
                "e2qimage: %s: warning: the filesystem needs journal "
                "recovery; snapshot blocks still in the journal are not seen "
                "(replay it first, e.g. e2fsck -E journal_only)\n",
                device_path.c_str());
      }
    }
  }
  ext4::Filesystem::OpenOptions fo;
  fo.superblock = o.superblock;
  fo.block_size = o.blocksize;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ext4::Filesystem> fs,
                       ext4::Filesystem::Open(source, fo));

  ext4::SelectOptions so;
  so.all_data = o.all_data;
  so.backup_superblock = o.superblock;
  E2Q_ASSIGN_OR_RETURN(ext4::Selection selection,
                       ext4::SelectBlocks(*fs, so));
  for (const auto& w : selection.warnings) {
    fprintf(stderr, "e2qimage: %s: warning: %s\n", source->name().c_str(),
            w.c_str());
  }

  std::unique_ptr<scramble::Scrambler> scrambler;
  if (o.scramble) {
    E2Q_ASSIGN_OR_RETURN(scrambler, scramble::Scrambler::Create(*fs));
    for (const auto& w : scrambler->warnings()) {
      fprintf(stderr, "e2qimage: %s: warning: -s: %s\n",
              source->name().c_str(), w.c_str());
    }
  }

  // What the image will hold, at most: the selected blocks.
  const uint64_t expected = selection.blocks.size() * fs->block_size();
  if (o.format == OutputFormat::kRaw) {
    E2Q_RETURN_IF_ERROR(CheckRawRoom(image_path, fs->byte_size()));
  }
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                       io::OutputFile::Create(image_path, expected, o.sync));
  RegisterTempFile(out->temp_path());
  const uint64_t size = fs->byte_size();
  const uint32_t bs = fs->block_size();

  std::unique_ptr<qcow2::Qcow2Writer> writer;
  std::unique_ptr<qcow2::ClusterCompressor> compressor;
  std::unique_ptr<qcow2::Qcow2Reader> base_reader;
  std::unique_ptr<BaseContent> base;
  std::unique_ptr<ImageSink> qcow2_sink;
  std::unique_ptr<ImageSink> sink;
  if (o.format == OutputFormat::kQcow2) {
    E2Q_ASSIGN_OR_RETURN(uint32_t bits, ChooseClusterBits(o, size, bs));
    E2Q_ASSIGN_OR_RETURN(
        Provenance record,
        NewProvenance(o.all_data ? ImageKind::kFull : ImageKind::kMetadata,
                      size));
    // The state held: snapshot ID, ID2 of a range, or the live filesystem.
    const bool live = !spec || (spec->range && spec->to_live);
    record.flags = live ? Provenance::kFlagLive : 0;
    if (!live) {
      record.kind = ImageKind::kSnapshot;
      record.snapshot_ids = {spec->range ? spec->to : spec->id};
    }
    if (o.all_data) record.flags |= Provenance::kFlagAllData;
    if (o.scramble) record.flags |= Provenance::kFlagScrambled;
    record.fs_uuid = fs->uuid();
    record.label = fs->label();
    record.block_size = bs;
    record.blocks_count = fs->blocks_count();
    qcow2::WriterOptions wo;
    wo.version = o.qcow2_version;
    wo.cluster_bits = bits;
    wo.virtual_size = size;
    if (!o.backing.empty()) {
      BaseExpectation want;
      want.fs_uuid = fs->uuid();
      want.fs_name = fs->name();
      if (spec && spec->range) want.snapshot_id = spec->id;
      E2Q_ASSIGN_OR_RETURN(base_reader,
                           OpenBase(image_path, o.backing, want, &record));
      base = std::make_unique<BaseContent>(base_reader.get(), bits);
      wo.backing_file = o.backing;
      wo.backing_format = "qcow2";
    }
    ReserveProvenance(record, &wo);
    E2Q_ASSIGN_OR_RETURN(writer,
                         qcow2::Qcow2Writer::Create(out->file(), wo));
    if (o.compress_level) {
      E2Q_ASSIGN_OR_RETURN(compressor, NewCompressor(o, bits, writer.get()));
    }
    qcow2_sink = NewQcow2Sink(writer.get(), compressor.get(), base.get());
    E2Q_ASSIGN_OR_RETURN(sink, NewStampingSink(qcow2_sink.get(), writer.get(),
                                               std::move(record)));
  } else {
    sink = NewRawSink(out->file(), size, out->sparse(), std::max(bs, 4096u));
  }

  Progress progress(o.progress, "Copying", "blocks", selection.blocks.size(),
                    bs);
  CopyOptions co;
  co.block_size = bs;
  E2Q_ASSIGN_OR_RETURN(co.source_size, source->Size());
  co.progress = [&](uint64_t done) { progress.Update(done); };
  if (scrambler) {
    co.transform = [&](uint64_t first, uint64_t count, uint8_t* data) {
      return scrambler->Apply(first, count, data);
    };
  }
  E2Q_ASSIGN_OR_RETURN(CopyStats stats,
                       CopyBlocks(source, selection.blocks, sink.get(),
                                  co));
  if (stats.blocks_past_source_end > 0) {
    fprintf(stderr,
            "e2qimage: %s: warning: %llu selected blocks lie past the end of "
            "the device and were imaged as zeros\n",
            device_path.c_str(),
            static_cast<unsigned long long>(stats.blocks_past_source_end));
  }
  E2Q_RETURN_IF_ERROR(out->Commit());
  UnregisterTempFile();
  progress.Finish();
  return Status::OK();
}

}  // namespace e2q::cli
