/* Prints the library's version and that a missing model is an error, not an exit. */
#include <fedsim.h>
#include <stdio.h>

int main(void)
{
    fedsim_model *m = fedsim_model_load("/nonexistent-model", "cpu");
    printf("fedsim %s: %s\n", fedsim_version(), m ? "loaded?" : fedsim_last_error());
    return m != NULL;
}
