#include <cstdio>
int main() { std::puts("ringlab"); return 0; }
