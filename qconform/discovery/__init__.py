"""What can be tested: the dispatch's quantizers with their specs, the user's selection of them, and the
check functions that exist. Everything here is read when asked, so late registrations show up."""
