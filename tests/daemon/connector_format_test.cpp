// A connector's `format` and the keys of a CloudEvents connector (docs/configuration.md,
// docs/connectors.md): defaults, the type table, the pointers, and each error with its line.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config/config.h"
#include "tests/support/config_errors.h"
#include "tests/support/tokens.h"

namespace treve::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kHead =
    "[[connectors]]\n"                                       // 1
    "name = \"bus\"\n"                                       // 2
    "token_sha256 = \"" TREVE_TEST_CHANGE_ME_SHA256 "\"\n";  // 3

using test::load_ok;

TEST(ConnectorFormat, ConnectorsAreCanonicalByDefault) {
  auto c = load_ok(kHead);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->connector("bus")->format, Connector::Format::canonical);
  c = load_ok(kHead + "format = \"canonical\"\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->connector("bus")->format, Connector::Format::canonical);
}

TEST(ConnectorFormat, ACloudEventsConnectorHasDefaultPointersAndNoTypes) {
  auto c = load_ok(kHead + "format = \"cloudevents\"\n");
  ASSERT_TRUE(c);
  const Connector& bus = *c->connector("bus");
  EXPECT_EQ(bus.format, Connector::Format::cloudevents);
  EXPECT_EQ(bus.cloudevents.ce_source, "");
  EXPECT_TRUE(bus.cloudevents.types.empty());
  EXPECT_EQ(bus.cloudevents.establishment_pointer, "/establishment");
  EXPECT_EQ(bus.cloudevents.recipients_pointer, "/recipients");
  EXPECT_EQ(bus.cloudevents.title_pointer, "/title");
  EXPECT_EQ(bus.cloudevents.urgent_pointer, "/urgent");
  EXPECT_EQ(bus.cloudevents.category_of("anything"), policy::Category::other);
}

TEST(ConnectorFormat, EveryCloudEventsKeyIsRead) {
  auto c = load_ok(kHead +
                   "format = \"cloudevents\"\n"
                   "ce_source = \"https://ent.example/notes\"\n"
                   "types = { \"com.example.grade.published\" = \"grade\", "
                   "\"com.example.alert\" = \"alert\" }\n"
                   "establishment_pointer = \"/school/uai\"\n"
                   "recipients_pointer = \"/to\"\n"
                   "title_pointer = \"/a~1b\"\n"
                   "urgent_pointer = \"/flags/urgent\"\n");
  ASSERT_TRUE(c);
  const adapters::CloudEventMapping& m = c->connector("bus")->cloudevents;
  EXPECT_EQ(m.ce_source, "https://ent.example/notes");
  EXPECT_EQ(m.category_of("com.example.grade.published"), policy::Category::grade);
  EXPECT_EQ(m.category_of("com.example.alert"), policy::Category::alert);
  EXPECT_EQ(m.category_of("com.example.other"), policy::Category::other);
  EXPECT_EQ(m.establishment_pointer, "/school/uai");
  EXPECT_EQ(m.recipients_pointer, "/to");
  EXPECT_EQ(m.title_pointer, "/a~1b");
  EXPECT_EQ(m.urgent_pointer, "/flags/urgent");
}

TEST(ConnectorFormat, AnUnknownFormatIsAnError) {
  EXPECT_THAT(test::config_errors(kHead + "format = \"xml\"\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].format: unknown connector "
                                     "format \"xml\"")));
  EXPECT_THAT(test::config_errors(kHead + "format = 3\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].format: ")));
}

TEST(ConnectorFormat, TheTimelineFormatNeedsADirectoryAndTakesItsOwnKeys) {
  EXPECT_THAT(test::config_errors(kHead + "format = \"entcore-timeline\"\n"),
              ElementsAre(AllOf(StartsWith("test.toml:4: connectors[0].format: "),
                                HasSubstr("needs a directory"))));
  const std::string directory =
      "\n[[directories]]\nname = \"ent\"\nurl = \"http://127.0.0.1:9/u\"\n"
      "token_file = \"tok\"\n";
  EXPECT_THAT(test::config_errors(kHead + "timeline_types = { \"BLOG\" = \"blog\" }\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].timeline_types: applies only "
                                     "to a connector with format = \"entcore-timeline\"")));
  EXPECT_THAT(
      test::config_errors(kHead +
                          "format = \"entcore-timeline\"\ndirectory = \"ent\"\n"
                          "timeline_types = { \"BLOG X\" = \"blog\", \"NEWS\" = \"gossip\" }\n"
                          "timeline_titles = { \"push.k\" = \"\" }\n" +
                          directory),
      ::testing::IsSupersetOf(
          {StartsWith("test.toml:6: connectors[0].timeline_types.\"BLOG X\": \"BLOG X\" is not a "
                      "timeline type"),
           StartsWith("test.toml:6: connectors[0].timeline_types.\"NEWS\": "),
           StartsWith("test.toml:7: connectors[0].timeline_titles.\"push.k\": a translation "
                      "key and its text")}));
}

TEST(ConnectorFormat, CloudEventsKeysOnACanonicalConnectorAreErrors) {
  EXPECT_THAT(test::config_errors(kHead + "ce_source = \"s\"\n"
                                          "title_pointer = \"/t\"\n"),
              ElementsAre(StartsWith("test.toml:4: connectors[0].ce_source: applies only to a "
                                     "connector with format = \"cloudevents\""),
                          StartsWith("test.toml:5: connectors[0].title_pointer: applies only")));
}

TEST(ConnectorFormat, BadPointersTypesAndSourcesAreErrorsWithTheirLines) {
  const std::string head = kHead + "format = \"cloudevents\"\n";  // 4
  EXPECT_THAT(test::config_errors(head + "title_pointer = \"title\"\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].title_pointer: must be a JSON "
                                     "pointer")));
  EXPECT_THAT(test::config_errors(head + "recipients_pointer = \"/a~2\"\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].recipients_pointer: must be a "
                                     "JSON pointer")));
  EXPECT_THAT(test::config_errors(head + "establishment_pointer = \"\"\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].establishment_pointer: ")));
  EXPECT_THAT(test::config_errors(head + "types = { \"t\" = \"grades\" }\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].types.\"t\": unknown category")));
  EXPECT_THAT(test::config_errors(head + "types = { \"fr.treve.notification.v1\" = \"grade\" }\n"),
              ElementsAre(AllOf(StartsWith("test.toml:5: connectors[0].types."),
                                HasSubstr("cannot be mapped"))));
  EXPECT_THAT(test::config_errors(head + "types = [\"t\"]\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].types: ")));
  EXPECT_THAT(test::config_errors(head + "ce_source = \"\"\n"),
              ElementsAre(StartsWith("test.toml:5: connectors[0].ce_source: must be a CloudEvents "
                                     "source")));
}

}  // namespace
}  // namespace treve::config
