#include <stdio.h>

int main(void)
{
    puts("fedsim: under construction");
    return 0;
}
