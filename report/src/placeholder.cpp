namespace ringlab::report {}
