// Wall-clock time past 2037: the TZif footer rules, read and applied where date's explicit
// transitions end, and the same answers as date's where they do not.
#include <gtest/gtest.h>

#include "policy/zone_time.h"

namespace treve::policy::zone_time {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const date::time_zone* zone(const char* name) {
  return date::locate_zone(name);
}

date::sys_seconds utc(int y, unsigned m, unsigned d, int h, int mi = 0) {
  return date::sys_days{date::year{y} / m / d} + hours{h} + minutes{mi};
}

date::local_seconds local(int y, unsigned m, unsigned d, int h, int mi = 0) {
  return date::local_days{date::year{y} / m / d} + hours{h} + minutes{mi};
}

TEST(PosixRule, ReadsParisMiquelonAndSydney) {
  auto paris = parse_posix_rule("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(paris);
  EXPECT_EQ(paris->std_abbrev, "CET");
  EXPECT_EQ(paris->std_offset, hours{1});
  EXPECT_TRUE(paris->has_dst);
  EXPECT_EQ(paris->dst_abbrev, "CEST");
  EXPECT_EQ(paris->dst_offset, hours{2});
  EXPECT_EQ(paris->start.month, 3);
  EXPECT_EQ(paris->start.week, 5);
  EXPECT_EQ(paris->start.time, hours{2});
  EXPECT_EQ(paris->end.time, hours{3});

  auto miquelon = parse_posix_rule("<-03>3<-02>,M3.2.0,M11.1.0");
  ASSERT_TRUE(miquelon);
  EXPECT_EQ(miquelon->std_abbrev, "-03");
  EXPECT_EQ(miquelon->std_offset, hours{-3});
  EXPECT_EQ(miquelon->dst_offset, hours{-2});

  auto sydney = parse_posix_rule("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(sydney);
  // Southern summer: from October to April, across the new year.
  EXPECT_EQ(sydney->info(utc(2045, 1, 15, 0)).offset, hours{11});
  EXPECT_EQ(sydney->info(utc(2045, 7, 15, 0)).offset, hours{10});
  EXPECT_EQ(sydney->info(utc(2045, 12, 15, 0)).abbrev, "AEDT");
}

TEST(PosixRule, ReadsOtherFormsAndRefusesWhatIsNotARule) {
  auto no_dst = parse_posix_rule("<+04>-4");
  ASSERT_TRUE(no_dst);
  EXPECT_FALSE(no_dst->has_dst);
  EXPECT_EQ(no_dst->std_offset, hours{4});
  // Julian days (29 February never counted), explicit offsets and negative or long times.
  auto julian = parse_posix_rule("XST3:30XDT2:30,J60/-1,300/26:30");
  ASSERT_TRUE(julian);
  EXPECT_EQ(julian->std_offset, -(hours{3} + minutes{30}));
  EXPECT_EQ(julian->dst_offset, -(hours{2} + minutes{30}));
  EXPECT_EQ(julian->start.time, hours{-1});
  EXPECT_EQ(julian->end.time, hours{26} + minutes{30});
  // J60 is 1 March even in a leap year: summer time starts 1 March at 23:00 the day before.
  const auto d = julian->info(utc(2048, 3, 1, 12));
  EXPECT_EQ(d.offset, -(hours{2} + minutes{30}));
  EXPECT_EQ(d.begin, date::sys_seconds{
                         (local(2048, 2, 29, 23) + hours{3} + minutes{30}).time_since_epoch()});
  for (const char* bad : {"", "C-1", "CET", "CET-1CEST", "CET-1CEST,M13.5.0,M10.5.0",
                          "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.0", "<CET-1",
                          "CET-1CEST,M3.5.0,M10.5.0/200", "CET-1CEST,M3.5.0,M10.5.0 trailing"}) {
    EXPECT_FALSE(parse_posix_rule(bad)) << bad;
  }
}

TEST(ZoneTime, ParisHasSummerTimeAfter2037) {
  const auto* paris = zone("Europe/Paris");
  for (int y : {2037, 2038, 2040, 2070, 2099}) {
    const auto summer = info(paris, utc(y, 7, 1, 12));
    EXPECT_EQ(summer.offset, hours{2}) << y;
    EXPECT_EQ(summer.abbrev, "CEST") << y;
    EXPECT_NE(summer.save, minutes{0}) << y;  // date (OS database) says 1 min: summer time
    EXPECT_EQ(info(paris, utc(y, 1, 15, 12)).offset, hours{1}) << y;
  }
  // 2040: last Sunday of March is the 25th (01:00 UTC), of October the 28th.
  EXPECT_EQ(info(paris, utc(2040, 3, 25, 0, 59)).offset, hours{1});
  EXPECT_EQ(info(paris, utc(2040, 3, 25, 1)).offset, hours{2});
  EXPECT_EQ(info(paris, utc(2040, 3, 25, 1)).begin, utc(2040, 3, 25, 1));
  EXPECT_EQ(info(paris, utc(2040, 3, 25, 1)).end, utc(2040, 10, 28, 1));
  EXPECT_EQ(info(paris, utc(2040, 10, 28, 1)).offset, hours{1});
}

TEST(ZoneTime, WallClockBackAndForthAfter2037AsDateChoosesEarliest) {
  const auto* paris = zone("Europe/Paris");
  EXPECT_EQ(to_sys(paris, local(2040, 7, 6, 7)), utc(2040, 7, 6, 5));
  EXPECT_EQ(to_sys(paris, local(2040, 12, 6, 7)), utc(2040, 12, 6, 6));
  // Skipped (02:30 on 25 March 2040): the instant the clocks went forward.
  EXPECT_EQ(to_sys(paris, local(2040, 3, 25, 2, 30)), utc(2040, 3, 25, 1));
  // Twice (02:30 on 28 October 2040): the first.
  EXPECT_EQ(to_sys(paris, local(2040, 10, 28, 2, 30)), utc(2040, 10, 28, 0, 30));
  EXPECT_EQ(to_local(paris, utc(2040, 7, 6, 5)), local(2040, 7, 6, 7));
  const auto* miquelon = zone("America/Miquelon");
  EXPECT_EQ(to_sys(miquelon, local(2040, 7, 6, 7)), utc(2040, 7, 6, 9));
}

TEST(ZoneTime, AgreesWithDateWhereDateKnowsTheTransitions) {
  for (const char* name : {"Europe/Paris", "America/Miquelon", "Indian/Reunion", "Pacific/Tahiti",
                           "Australia/Sydney", "UTC"}) {
    const auto* z = zone(name);
    for (auto t = utc(2026, 1, 1, 0); t < utc(2028, 1, 1, 0); t += minutes{97}) {
      const auto mine = info(z, t);
      const auto theirs = z->get_info(t);
      ASSERT_EQ(mine.offset, theirs.offset) << name << ' ' << t.time_since_epoch().count();
      ASSERT_EQ(mine.begin, theirs.begin) << name;
      const date::local_seconds l{t.time_since_epoch()};
      ASSERT_EQ(to_sys(z, l), z->to_sys(l, date::choose::earliest)) << name;
    }
  }
}

TEST(ZoneTime, ZonesWithoutSummerTimeAreDatesAnswers) {
  const auto* reunion = zone("Indian/Reunion");
  EXPECT_EQ(info(reunion, utc(2070, 7, 1, 0)).offset, hours{4});
  EXPECT_EQ(to_sys(reunion, local(2070, 7, 1, 7)), utc(2070, 7, 1, 3));
}

}  // namespace
}  // namespace treve::policy::zone_time
