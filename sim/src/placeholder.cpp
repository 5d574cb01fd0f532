namespace ringlab::sim {}
