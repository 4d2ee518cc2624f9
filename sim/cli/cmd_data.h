/* fedsim data: generate synthetic datasets and summarise dataset directories. */
#ifndef FEDSIM_CMD_DATA_H
#define FEDSIM_CMD_DATA_H

/* argv[0] is "data"; returns the process exit code (0 ok, 1 failure, 2 usage). */
int fs_cmd_data(int argc, char **argv);

#endif
