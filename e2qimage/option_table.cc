// The option table (see option_table.h) and what is built from it.
#include "e2qimage/option_table.h"

namespace e2q::cli {

const std::vector<OptionSpec>& OptionTable() {
  static const std::vector<OptionSpec> kTable = {
      {'r', "raw", no_argument, "-r, --raw",
       "raw sparse image ('-' writes to standard output)", "Output:"},
      {'Q', "qcow2", no_argument, "-Q, --qcow2",
       "qcow2 image (compat 1.1 unless --compat=0.10)", nullptr},
      {'a', "all-data", no_argument, "-a, --all-data",
       "include file data, not only metadata", nullptr},
      {'z', nullptr, optional_argument, "-z[LEVEL], --compress[=LEVEL]",
       "compress qcow2 data clusters (deflate, level 1-9, default 6)", nullptr},
      {kOptCompress, "compress", optional_argument, "--compress=zstd[:LEVEL]",
       "compress with zstd instead (compat 1.1 only)", nullptr},
      {'s', "scramble", no_argument, "-s, --scramble",
       "replace directory entry names and symlink targets", nullptr},
      {'p', "progress", no_argument, "-p, --progress",
       "show progress on standard error", nullptr},
      {'f', "force", no_argument, "-f, --force",
       "image a filesystem mounted read-write", nullptr},
      {'b', "superblock", required_argument, "-b, --superblock=N",
       "use the backup superblock at block N", nullptr},
      {'B', "blocksize", required_argument, "-B, --blocksize=N",
       "block size to use with -b", nullptr},
      {kOptClusterSize, "cluster-size", required_argument,
       "--cluster-size=BYTES", "qcow2 cluster size (512 to 2M)", nullptr},
      {kOptCompat, "compat", required_argument, "--compat=0.10|1.1",
       "qcow2 version 2 or 3", nullptr},
      {kOptThreads, "threads", required_argument, "--threads=N",
       "compression threads (default: all cores)", nullptr},
      {kOptSync, "sync", no_argument, "--sync",
       "wait for the image to reach the disk before renaming\n"
       "it into place (by default, as cp and e2image, the\n"
       "kernel writes it back later)",
       nullptr},
      {kOptNoSync, "no-sync", no_argument, "--no-sync",
       "the default: do not wait for the disk", nullptr},
      {kOptNoShare, "no-share", no_argument, "--no-share",
       "store every qcow2 cluster, also one equal to a\n"
       "cluster or L2 table stored before (by default they\n"
       "are stored once, with an \"as-written\" snapshot)",
       nullptr},
      {kOptForceShare, "force-share", no_argument, "--force-share",
       "read images that another process (qemu) holds open\n"
       "for writing (qemu-img -U); without it they are refused",
       nullptr},
      {kOptRateLimit, "rate-limit", required_argument, "--rate-limit=RATE",
       "read and write the device (or qcow2 input) at most\n"
       "RATE bytes per second (K/M/G suffixes, qemu-img -r)",
       nullptr},
      {'l', "snapshot", required_argument, "-l, --snapshot=ID|NAME",
       "read internal snapshot of a qcow2 input", nullptr},
      {'o', "offset", required_argument, "-o, --offset=BYTES",
       "the filesystem starts BYTES into DEVICE, a disk\n"
       "image (raw or qcow2)",
       nullptr},
      {kOptPartition, "partition", required_argument, "--partition=N",
       "the filesystem is partition N of DEVICE's MBR\n"
       "(1-4) or GPT; DEVICE may be a qcow2 disk image",
       nullptr},
      {'L', "list", no_argument, "-L, --list DEVICE",
       "list snapshots (ID INODE STATUS NAME, newest first)",
       "next3 snapshots:"},
      {'x', "export-snapshot", required_argument, "-x, --export-snapshot=ID",
       "export snapshot ID instead of the live filesystem", nullptr},
      {0, nullptr, no_argument, "-x ID1..ID2|ID1..live --backing=BASE",
       "snapshot ID2 (or the live filesystem) as the blocks\n"
       "that differ from BASE, an export of snapshot ID1",
       nullptr},
      {'X', "export-all", no_argument, "-X, --export-all",
       "with -Q: every snapshot and the live filesystem\n"
       "('current') as internal snapshots of one file",
       nullptr},
      {'R', "rollback", required_argument, "-R, --rollback=ID",
       "roll the unmounted DEVICE back to snapshot ID,\n"
       "saving what it overwrites in UNDO-FILE",
       nullptr},
      {'U', "undo", no_argument, "-U, --undo",
       "write UNDO-FILE's saved blocks back to DEVICE", nullptr},
      {'I', "install", no_argument, "-I, --install",
       "write IMAGE (a full image or an increment) onto\n"
       "the unmounted DEVICE, saving what it overwrites\n"
       "in UNDO-FILE",
       nullptr},
      {'n', "dry-run", no_argument, "-n, --dry-run",
       "with -R/-U/-I: only report what would be written", nullptr},
      {kOptBacking, "backing", required_argument, "--backing=FILE",
       "store only what differs from FILE, an earlier\n"
       "e2qimage export of the same filesystem",
       "Incremental exports and provenance (qcow2):"},
      {kOptInfo, "info", no_argument, "--info IMAGE-FILE",
       "describe an image: layout and provenance", nullptr},
      {kOptVerify, "verify", no_argument, "--verify IMAGE-FILE",
       "check an image's recorded content digest", nullptr},
      {kOptOutput, "output", required_argument, "--output=human|json",
       "with --info, --verify, -L: text (the default) or\n"
       "one JSON object, as qemu-img info --output=json",
       nullptr},
      {kOptHelp, "help", no_argument, "--help", "this text", ""},
      {kOptVersion, "version", no_argument, "--version", "version", nullptr},
  };
  return kTable;
}

std::string ShortOptions() {
  std::string s = ":";
  for (const OptionSpec& o : OptionTable()) {
    if (o.key <= 0 || o.key > 127) continue;
    s += static_cast<char>(o.key);
    if (o.has_arg == required_argument) s += ":";
    if (o.has_arg == optional_argument) s += "::";
  }
  return s;
}

std::vector<struct option> LongOptions() {
  std::vector<struct option> v;
  for (const OptionSpec& o : OptionTable()) {
    if (o.key != 0 && o.name != nullptr) {
      v.push_back({o.name, o.has_arg, nullptr, o.key});
    }
  }
  v.push_back({nullptr, 0, nullptr, 0});
  return v;
}

std::string OptionHelp() {
  constexpr size_t kColumn = 25;  // where the help text starts
  std::string out;
  for (const OptionSpec& o : OptionTable()) {
    if (o.section != nullptr) {
      out += "\n";
      if (*o.section != '\0') out += std::string(o.section) + "\n";
    }
    std::string line = std::string("  ") + o.usage;
    if (line.size() + 1 > kColumn) {
      out += line + "\n";
      line.clear();
    }
    std::string help = o.help;
    size_t start = 0;
    while (true) {
      const size_t nl = help.find('\n', start);
      line.resize(kColumn, ' ');
      line += help.substr(start, nl == std::string::npos ? nl : nl - start);
      out += line + "\n";
      line.clear();
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  return out;
}

}  // namespace e2q::cli
