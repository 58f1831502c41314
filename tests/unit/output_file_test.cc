// Tests for lib/output_file; being written.
#include <gtest/gtest.h>
