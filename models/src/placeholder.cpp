namespace ringlab::models {}
