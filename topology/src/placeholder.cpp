namespace ringlab::topology {}
