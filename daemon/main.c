/* SPDX-License-Identifier: MIT */
#include <stdio.h>
int main(void)
{
        puts("pstream skeleton");
        return 0;
}
