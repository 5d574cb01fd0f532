namespace ringlab::runtime {}
