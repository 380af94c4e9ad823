"""A Bot Connector emulator: Teams as the bot sees it (conversations, activities, members), for the demo, the tests
and the benchmarks."""
