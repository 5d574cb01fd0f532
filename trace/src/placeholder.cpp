namespace ringlab::trace {}
