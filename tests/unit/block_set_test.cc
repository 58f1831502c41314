// Tests for lib/block_set; being written.
#include <gtest/gtest.h>
