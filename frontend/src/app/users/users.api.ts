import { HttpClient } from '@angular/common/http';
import { inject, Injectable } from '@angular/core';
import type { CreateUserRequest, UpdateUserRequest, UserView } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';

@Injectable({ providedIn: 'root' })
export class UsersApi {
  private readonly http = inject(HttpClient);
  list = () => firstValueFrom(this.http.get<UserView[]>('/api/users'));
  create = (body: CreateUserRequest) => firstValueFrom(this.http.post<UserView>('/api/users', body));
  update = (id: string, body: UpdateUserRequest) => firstValueFrom(this.http.put<UserView>(`/api/users/${id}`, body));
  remove = (id: string) => firstValueFrom(this.http.delete<void>(`/api/users/${id}`));
}
