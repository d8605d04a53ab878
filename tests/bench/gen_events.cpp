// Writes N canonical events with "received_at" as NDJSON on standard output, the same every
// time. Usage: gen_events [N=1000000] > events.ndjson
#include <cstdlib>

#include "event_generator.h"

int main(int argc, char** argv) {
  treve::bench::write_events(stdout, argc > 1 ? std::atoll(argv[1]) : 1'000'000);
}
