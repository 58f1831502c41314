// Command-line parsing (getopt_long over the option table) and the usage
// text.
#include "e2qimage/options.h"

#include <getopt.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "e2qimage/option_table.h"

namespace e2q::cli {

namespace {

// Parses a decimal number with an optional K/M/G suffix (powers of 1024).
bool ParseSize(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s) return false;
  uint64_t mult = 1;
  if (*end == 'k' || *end == 'K') mult = 1 << 10, ++end;
  else if (*end == 'm' || *end == 'M') mult = 1 << 20, ++end;
  else if (*end == 'g' || *end == 'G') mult = 1 << 30, ++end;
  if (*end != '\0' || v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

// A decimal snapshot ID: 1 to 2^32 - 1, digits only.
bool ParseId(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool SetMode(Options* o, Mode m, std::string* error) {
  if (o->mode != Mode::kExport && o->mode != m) {
    *error = "only one of -L, -R, -U, -I, --info, --verify may be given";
    return false;
  }
  o->mode = m;
  return true;
}

}  // namespace

std::optional<SnapshotSpec> ParseSnapshotSpec(const std::string& arg) {
  SnapshotSpec spec;
  const size_t dots = arg.find("..");
  if (dots == std::string::npos) {
    if (!ParseId(arg, &spec.id)) return std::nullopt;
    return spec;
  }
  spec.range = true;
  const std::string to = arg.substr(dots + 2);
  if (!ParseId(arg.substr(0, dots), &spec.id)) return std::nullopt;
  if (to == "live") {
    spec.to_live = true;
  } else if (!ParseId(to, &spec.to)) {
    return std::nullopt;
  }
  return spec;
}

const char* UsageText() {
  static const std::string kText =
      "Usage: e2qimage -Q|-r [-a] [-z[LEVEL]] [-s] [-p] [-f] [-b SUPERBLOCK "
      "-B BLOCKSIZE]\n"
      "                [-x ID | -X] [--cluster-size=BYTES] [--compat=0.10|1.1] "
      "[--threads=N]\n"
      "                [--sync] [--offset=BYTES | --partition=N] DEVICE "
      "IMAGE-FILE\n"
      "       e2qimage -r|-Q [-l SNAPSHOT] [-z[LEVEL]] [-p] [--sync] "
      "IMAGE.qcow2 OUT-FILE\n"
      "       e2qimage -Q [-a] [-z[LEVEL]] [-s] [-p] [--compat=0.10|1.1]\n"
      "                [-x ID1..ID2|ID1..live] --backing=BASE DEVICE "
      "IMAGE-FILE\n"
      "       e2qimage -L [--offset=BYTES | --partition=N] "
      "[--output=human|json]\n"
      "                DEVICE\n"
      "       e2qimage -R ID [-n] [-p] DEVICE UNDO-FILE\n"
      "       e2qimage -U [-n] [-p] UNDO-FILE DEVICE\n"
      "       e2qimage -I [-n] [-p] IMAGE DEVICE UNDO-FILE\n"
      "       e2qimage --info|--verify [--output=human|json] IMAGE-FILE\n"
      "       e2qimage --help | --version\n" +
      OptionHelp() +
      "\n"
      "Exit status: 0 success, 1 error, 2 usage error; 129, 130, 143 when "
      "ended by\n"
      "SIGHUP, SIGINT, SIGTERM.\n";
  return kText.c_str();
}

namespace {

// The rules between options and on the operands, after parsing: the one
// place where a combination is accepted or refused.  Parses what is kept
// as text until then (-x).
bool Validate(Options* o, std::string* error) {
  size_t want = 0;
  switch (o->mode) {
    case Mode::kExport:
      want = 2;
      if (o->format == OutputFormat::kNone) {
        *error = "one of -r or -Q is required";
        return false;
      }
      if (o->compress_level && o->format != OutputFormat::kQcow2) {
        *error = "-z needs -Q (only qcow2 images can be compressed)";
        return false;
      }
      if ((o->superblock != 0) != (o->blocksize != 0)) {
        *error = "-b and -B must be given together";
        return false;
      }
      if (o->compress_zstd && o->qcow2_version < 3) {
        *error = "--compress=zstd needs --compat=1.1";
        return false;
      }
      if (!o->backing.empty() && o->format != OutputFormat::kQcow2) {
        *error = "--backing needs -Q";
        return false;
      }
      if (o->export_all_snapshots && o->format != OutputFormat::kQcow2) {
        *error = "-X needs -Q";
        return false;
      }
      if (!o->export_snapshot_arg.empty()) {
        o->export_snapshot = ParseSnapshotSpec(o->export_snapshot_arg);
        if (!o->export_snapshot) {
          *error = "invalid -x '" + o->export_snapshot_arg +
                   "' (a snapshot ID, ID1..ID2 or ID1..live)";
          return false;
        }
        if (o->export_all_snapshots) {
          *error = "-x and -X are mutually exclusive";
          return false;
        }
        if (o->export_snapshot->range && o->backing.empty()) {
          *error =
              "-x ID1..ID2 needs --backing=BASE (an export of snapshot "
              "ID1)";
          return false;
        }
        if (o->superblock != 0) {
          *error =
              "-b cannot be used with -x (snapshots are read through "
              "the primary superblock)";
          return false;
        }
      }
      break;
    case Mode::kList:
    case Mode::kInfo:
    case Mode::kVerify:
      want = 1;
      break;
    case Mode::kRollback:
    case Mode::kUndo:
    case Mode::kInstall:
      want = o->mode == Mode::kInstall ? 3 : 2;
      if (o->no_sync_given) {
        *error =
            "--no-sync cannot be used with -R, -U or -I (writing a device "
            "always waits for the disk)";
        return false;
      }
      break;
    default:
      break;
  }
  if (o->offset && o->partition != 0) {
    *error =
        "--offset and --partition are mutually exclusive (--partition "
        "finds the offset)";
    return false;
  }
  if ((o->offset || o->partition != 0) && o->mode != Mode::kExport &&
      o->mode != Mode::kList) {
    *error =
        "--offset and --partition are for the modes that read a "
        "filesystem (exports and -L); -R, -U, -I, --info and --verify do not "
        "take them";
    return false;
  }
  if (o->rate_limit != 0 &&
      (o->mode == Mode::kInfo || o->mode == Mode::kVerify)) {
    *error =
        "--rate-limit is for the modes that read or write a device; "
        "--info and --verify do not take it";
    return false;
  }
  if (!o->share && o->mode != Mode::kExport) {
    *error =
        "--no-share is for exports and conversions (the files of -R, -U "
        "and -I are undo files)";
    return false;
  }
  if (!o->share && o->export_all_snapshots) {
    *error =
        "--no-share cannot be used with -X (its states share what did not "
        "change by design)";
    return false;
  }
  if (o->dry_run && o->mode != Mode::kRollback && o->mode != Mode::kUndo &&
      o->mode != Mode::kInstall) {
    *error =
        "-n (--dry-run) is only for -R, -U and -I; an export always writes";
    return false;
  }
  if (o->output_given && o->mode != Mode::kInfo && o->mode != Mode::kVerify &&
      o->mode != Mode::kList) {
    *error = "--output is only for --info, --verify and -L";
    return false;
  }
  if (o->args.size() != want) {
    *error = o->args.size() < want ? "missing operand" : "too many operands";
    return false;
  }
  if (o->mode == Mode::kExport && o->format == OutputFormat::kQcow2 &&
      o->args[1] == "-") {
    *error = "a qcow2 image cannot be written to standard output";
    return false;
  }
  return true;
}

}  // namespace

std::optional<Options> ParseOptions(int argc, char** argv,
                                    std::string* error) {
  Options o;
  optind = 1;
  opterr = 0;
  int c;
  static const std::string kShort = ShortOptions();
  static const std::vector<struct option> kLong = LongOptions();
  while ((c = getopt_long(argc, argv, kShort.c_str(), kLong.data(), nullptr)) !=
         -1) {
    switch (c) {
      case 'r':
      case 'Q': {
        OutputFormat f = c == 'r' ? OutputFormat::kRaw : OutputFormat::kQcow2;
        if (o.format != OutputFormat::kNone && o.format != f) {
          *error = "-r and -Q are mutually exclusive";
          return std::nullopt;
        }
        o.format = f;
        break;
      }
      case 'a': o.all_data = true; break;
      case 'z':
      case kOptCompress: {
        int level = 6;
        std::string arg = optarg ? optarg : "";
        if (c == kOptCompress && arg.rfind("zstd", 0) == 0) {
          // zstd (qcow2 compression_type 1); its own levels, default 3.
          o.compress_zstd = true;
          level = 3;
          uint64_t v;
          if (arg != "zstd" &&
              (arg[4] != ':' || !ParseSize(arg.c_str() + 5, &v) || v < 1 ||
               v > 19)) {
            *error = "invalid --compress '" + arg + "' (zstd or zstd:1-19)";
            return std::nullopt;
          }
          if (arg != "zstd") level = static_cast<int>(v);
          o.compress_level = level;
          break;
        }
        if (optarg != nullptr) {
          uint64_t v;
          if (!ParseSize(optarg, &v) || v < 1 || v > 9) {
            *error = std::string("invalid compression level '") + optarg +
                     "' (1-9)";
            return std::nullopt;
          }
          level = static_cast<int>(v);
        }
        o.compress_level = level;
        break;
      }
      case 's': o.scramble = true; break;
      case 'p': o.progress = true; break;
      case 'f': o.force = true; break;
      case 'n': o.dry_run = true; break;
      case 'b':
        if (!ParseSize(optarg, &o.superblock) || o.superblock == 0) {
          *error = std::string("invalid superblock '") + optarg + "'";
          return std::nullopt;
        }
        break;
      case 'B': {
        uint64_t v;
        if (!ParseSize(optarg, &v) || v < 1024 || v > 65536 ||
            (v & (v - 1)) != 0) {
          *error = std::string("invalid block size '") + optarg + "'";
          return std::nullopt;
        }
        o.blocksize = static_cast<uint32_t>(v);
        break;
      }
      case 'l': o.snapshot = optarg; break;
      case 'x':
        o.export_snapshot_arg = optarg;
        break;
      case 'X': o.export_all_snapshots = true; break;
      case 'L':
        if (!SetMode(&o, Mode::kList, error)) return std::nullopt;
        break;
      case 'R':
        if (!SetMode(&o, Mode::kRollback, error)) return std::nullopt;
        o.rollback_id = optarg;
        break;
      case 'U':
        if (!SetMode(&o, Mode::kUndo, error)) return std::nullopt;
        break;
      case 'I':
        if (!SetMode(&o, Mode::kInstall, error)) return std::nullopt;
        break;
      case kOptInfo:
        if (!SetMode(&o, Mode::kInfo, error)) return std::nullopt;
        break;
      case kOptVerify:
        if (!SetMode(&o, Mode::kVerify, error)) return std::nullopt;
        break;
      case kOptHelp: o.mode = Mode::kHelp; return o;
      case kOptVersion: o.mode = Mode::kVersion; return o;
      case kOptClusterSize: {
        uint64_t v;
        if (!ParseSize(optarg, &v) || v < 512 || v > (2 << 20) ||
            (v & (v - 1)) != 0) {
          *error = std::string("invalid cluster size '") + optarg +
                   "' (a power of two from 512 to 2M)";
          return std::nullopt;
        }
        o.cluster_size = v;
        break;
      }
      case kOptCompat:
        if (std::strcmp(optarg, "0.10") == 0) {
          o.qcow2_version = 2;
        } else if (std::strcmp(optarg, "1.1") == 0) {
          o.qcow2_version = 3;
        } else {
          *error = std::string("invalid --compat '") + optarg +
                   "' (0.10 or 1.1)";
          return std::nullopt;
        }
        break;
      case kOptThreads: {
        uint64_t v;
        if (!ParseSize(optarg, &v) || v < 1 || v > 256) {
          *error = std::string("invalid thread count '") + optarg + "'";
          return std::nullopt;
        }
        o.threads = static_cast<unsigned>(v);
        break;
      }
      case kOptBacking: o.backing = optarg; break;
      case 'o': {
        uint64_t v;
        if (!ParseSize(optarg, &v)) {
          *error = std::string("invalid --offset '") + optarg +
                   "' (bytes, with an optional K/M/G suffix)";
          return std::nullopt;
        }
        o.offset = v;
        break;
      }
      case kOptPartition:
        if (!ParseId(optarg, &o.partition)) {
          *error = std::string("invalid --partition '") + optarg +
                   "' (a partition number, from 1)";
          return std::nullopt;
        }
        break;
      case kOptOutput:
        if (std::strcmp(optarg, "json") != 0 &&
            std::strcmp(optarg, "human") != 0) {
          *error =
              std::string("invalid --output '") + optarg + "' (human or json)";
          return std::nullopt;
        }
        o.json = std::strcmp(optarg, "json") == 0;
        o.output_given = true;
        break;
      case kOptNoSync:
        o.sync = false;
        o.no_sync_given = true;
        break;
      case kOptSync:
        o.sync = true;
        o.no_sync_given = false;
        break;
      case kOptForceShare:
        o.force_share = true;
        break;
      case kOptNoShare:
        o.share = false;
        break;
      case kOptRateLimit: {
        uint64_t v;
        if (!ParseSize(optarg, &v) || v == 0) {
          *error = std::string("invalid --rate-limit '") + optarg +
                   "' (bytes per second, more than 0, with an optional "
                   "K/M/G suffix)";
          return std::nullopt;
        }
        o.rate_limit = v;
        break;
      }
      case ':':
        *error = std::string("option ") + argv[optind - 1] +
                 " requires an argument";
        return std::nullopt;
      default:
        if (optopt != 0) {
          *error = std::string("invalid option -- '") +
                   static_cast<char>(optopt) + "'";
        } else {
          *error = std::string("unrecognized option '") + argv[optind - 1] +
                   "'";
        }
        return std::nullopt;
    }
  }
  for (int i = optind; i < argc; ++i) o.args.emplace_back(argv[i]);

  if (!Validate(&o, error)) return std::nullopt;
  return o;
}

}  // namespace e2q::cli
